"""What gets deployed (.funcignore) and the editor tasks for the real host."""

from __future__ import annotations

import json
from fnmatch import fnmatch
from pathlib import PurePosixPath

import pytest

from tests.deploy.bicep import ROOT


def funcignore_patterns() -> list[str]:
    lines = (ROOT / ".funcignore").read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def excluded(path: str) -> bool:
    """Whether .funcignore leaves `path` out, with gitignore's rules for the patterns
    it uses: `name/` matches a directory at any depth, `name` a file or directory."""
    parts = PurePosixPath(path).parts
    for pattern in funcignore_patterns():
        directory_only = pattern.endswith("/")
        name = pattern.rstrip("/")
        candidates = parts[:-1] if directory_only else parts
        if any(fnmatch(part, name) for part in candidates):
            return True
    return False


@pytest.mark.parametrize(
    "path",
    [
        ".azure/dev/.env",
        ".python_packages/lib/site-packages/x.py",
        ".env",
        "local.settings.json",
        ".azurite/__azurite_db_table__.json",
        "__azurite_db_blob__.json",
        "__blobstorage__/x",
        "__queuestorage__/x",
        "AzuriteConfig",
        ".venv/bin/python",
        "node_modules/azurite/package.json",
        "tests/deploy/test_package.py",
        "bench/__main__.py",
        "devhost/__main__.py",
        "emulator/app.py",
        "localrun/__main__.py",
        "infra/main.bicep",
        ".vscode/tasks.json",
        "durable_assistant/__pycache__/x.cpython-311.pyc",
    ],
)
def test_local_only_files_are_not_deployed(path: str) -> None:
    assert excluded(path)


@pytest.mark.parametrize(
    "path",
    [
        "function_app.py",
        "host.json",
        "requirements.txt",
        "durable_assistant/settings.py",
        "durable_assistant/tools/builtin.py",
        "activities/model_calls.py",
        "orchestrators/run.py",
        "triggers/runs_api.py",
    ],
)
def test_the_app_is_deployed(path: str) -> None:
    assert (ROOT / path).exists()
    assert not excluded(path)


def test_the_debugger_starts_the_host_task_first() -> None:
    tasks = json.loads((ROOT / ".vscode" / "tasks.json").read_text())["tasks"]
    labels = {task["label"] for task in tasks}
    for task in tasks:
        wanted = task.get("dependsOn", [])
        assert set([wanted] if isinstance(wanted, str) else wanted) <= labels
    launch = json.loads((ROOT / ".vscode" / "launch.json").read_text())
    assert {c["preLaunchTask"] for c in launch["configurations"]} <= labels
    host = next(task for task in tasks if task["label"] == "func: host start")
    assert (host["type"], host["command"]) == ("func", "host start")
