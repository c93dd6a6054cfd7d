"""The app as it was at an earlier git revision, checked out beside this one, so the
bench can run it side by side with the current app (`--against REV`).

Only the app is taken from the revision (its `function_app.py` and packages);
devhost, the emulator and Azurite are this checkout's, so what differs between the
two is the app's own work.
"""

from __future__ import annotations

import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from localrun.azurite import REPO_ROOT


class RevisionError(ValueError):
    """The revision cannot be checked out here (not a git clone, or no such commit)."""


def _git(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", "-C", str(REPO_ROOT), *args], capture_output=True, text=True, check=False
    )


def commit_of(revision: str) -> str:
    """The full commit id `revision` names in this clone."""
    if revision.startswith("-"):
        raise RevisionError(f"not a revision: {revision!r}")
    found = _git("rev-parse", "--verify", "--quiet", f"{revision}^{{commit}}")
    if found.returncode != 0:
        raise RevisionError(
            f"no commit {revision!r} in {REPO_ROOT} (the bench needs a git clone with it)"
        )
    return found.stdout.strip()


@contextmanager
def checked_out(revision: str) -> Iterator[Path]:
    """A temporary worktree of `revision` (detached); removed on exit."""
    commit = commit_of(revision)
    with tempfile.TemporaryDirectory(prefix="bench-app-") as parent:
        tree = Path(parent) / commit[:12]
        added = _git("worktree", "add", "--detach", "--quiet", str(tree), commit)
        if added.returncode != 0:
            raise RevisionError(f"could not check out {revision}: {added.stderr.strip()}")
        try:
            yield tree
        finally:
            _git("worktree", "remove", "--force", str(tree))
            _git("worktree", "prune")
