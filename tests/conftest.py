"""Fixtures shared by every test folder: one Azurite and one in-process emulator for
the whole session, and app settings with nothing leaking in from the shell."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bench.scenarios import SCRIPT_FILES
from emulator.script import DEFAULT_SCRIPT
from emulator.testing import RunningEmulator, running_emulator
from localrun.stack import running_azurite
from tests.support.backends import SETTING_NAMES, reset_caches
from tests.support.emulator_sdk import EMULATOR_KEY


@pytest.fixture(scope="session")
def azurite() -> Iterator[str]:
    """The connection string of an Azurite (in memory) started for this session."""
    with running_azurite() as connection_string:
        yield connection_string


@pytest.fixture(scope="session")
def emulator_session() -> Iterator[RunningEmulator]:
    """One emulator for the session, in a thread of this process: it requires
    EMULATOR_KEY and plays the seed script and the bench's. Each folder's fixture
    starts it over with that folder's controls (`RunningEmulator.start_over`)."""
    with running_emulator(api_key=EMULATOR_KEY, script=[DEFAULT_SCRIPT, *SCRIPT_FILES]) as emu:
        yield emu


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """No app setting from the developer's shell leaks in; caches are fresh."""
    for name in SETTING_NAMES:
        monkeypatch.delenv(name, raising=False)
    reset_caches()
    yield monkeypatch
    reset_caches()


@pytest.fixture
def app_env(clean_env: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """The minimal valid settings (an endpoint nothing listens on, no key)."""
    clean_env.setenv("AZURE_OPENAI_ENDPOINT", "http://127.0.0.1:9")
    clean_env.setenv("AZURE_OPENAI_DEPLOYMENT", "gpt-test")
    return clean_env
