"""The whole app over real HTTP: devhost running function_app.py, the Azure OpenAI
emulator and Azurite, each a real server, started once for the session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from emulator.testing import AdminClient
from localrun.devhost_process import DevhostProcess
from localrun.stack import Stack, running_stack
from tests.support.app_http import (
    E2E_SETTINGS,
    SCRIPTS,
)


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Azurite, the emulator (the seed script plus this folder's) and devhost serving
    the repository's function_app.py, for the session."""
    data_dir = tmp_path_factory.mktemp("stack")
    with running_stack(
        data_dir,
        overrides=E2E_SETTINGS,
        scripts=[SCRIPTS / "pauses.json", SCRIPTS / "hostile.json"],
    ) as running:
        yield running


@pytest.fixture
def model(stack: Stack) -> Iterator[AdminClient]:
    """The session's emulator, with its controls put back after the test."""
    emulator = stack.emulator
    before = emulator.config()
    yield emulator
    emulator.configure(**{k: v for k, v in before.items() if k != "seed"})


@pytest.fixture(scope="session")
def settings(stack: Stack) -> dict[str, str]:
    return stack.settings


@pytest.fixture(scope="session")
def app(stack: Stack) -> DevhostProcess:
    """devhost serving the repository's function_app.py."""
    return stack.app
