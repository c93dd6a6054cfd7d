"""The bench's earlier app (`--against REV`): a temporary checkout of a revision."""

from __future__ import annotations

import subprocess

import pytest

from bench.__main__ import parse_args
from bench.earlier_app import RevisionError, checked_out, commit_of
from localrun.azurite import REPO_ROOT


def _is_git_clone() -> bool:
    found = subprocess.run(
        ["git", "-C", str(REPO_ROOT), "rev-parse", "--verify", "HEAD"],
        capture_output=True,
        check=False,
    )
    return found.returncode == 0


needs_git = pytest.mark.skipif(not _is_git_clone(), reason="the repository is not a git clone")


def worktrees() -> str:
    """`git worktree list` of this clone."""
    return subprocess.run(
        ["git", "-C", str(REPO_ROOT), "worktree", "list", "--porcelain"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout


@needs_git
def test_a_revision_is_checked_out_beside_and_removed_after() -> None:
    committed = subprocess.run(
        ["git", "-C", str(REPO_ROOT), "show", "HEAD:function_app.py"],
        capture_output=True,
        check=True,
    ).stdout
    with checked_out("HEAD") as tree:
        assert tree != REPO_ROOT
        assert (tree / "function_app.py").read_bytes() == committed
        assert str(tree) in worktrees()
    assert not tree.exists()
    assert str(tree) not in worktrees()


@needs_git
@pytest.mark.parametrize("revision", ["no-such-revision", "--output=/tmp/x", "HEAD~99999"])
def test_a_revision_that_names_no_commit_is_refused(revision: str) -> None:
    with pytest.raises(RevisionError):
        commit_of(revision)


def test_against_needs_concurrent_batches(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        parse_args(["--against", "HEAD"])
    assert "--concurrent" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        parse_args(["--concurrent", "5", "--against-devhost"])
    assert "--against REV" in capsys.readouterr().err
