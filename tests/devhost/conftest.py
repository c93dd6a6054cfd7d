"""Shared devhost fixtures: the patterns sample app served by one devhost subprocess."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from localrun.devhost_process import DevhostProcess, running_devhost
from tests.support.devhost_apps import APPS, LOCAL_SETTINGS


@pytest.fixture(scope="session")
def patterns_app(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the patterns sample app with its local.settings.json."""
    target = tmp_path_factory.mktemp("apps") / "patterns"
    shutil.copytree(APPS / "patterns", target, ignore=shutil.ignore_patterns("__pycache__"))
    (target / "local.settings.json").write_text(json.dumps(LOCAL_SETTINGS))
    return target


@pytest.fixture(scope="session")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Folder the sample app writes its side effects to."""
    return tmp_path_factory.mktemp("patterns-scratch")


@pytest.fixture(scope="session")
def host(
    tmp_path_factory: pytest.TempPathFactory, patterns_app: Path, scratch: Path
) -> Iterator[DevhostProcess]:
    """One devhost serving the patterns app for the whole session."""
    data_dir = tmp_path_factory.mktemp("patterns-data")
    env = {"PATTERNS_SCRATCH": str(scratch), "OVERRIDDEN_SETTING": "from-env"}
    with running_devhost(patterns_app, data_dir=data_dir, env=env) as running:
        yield running
