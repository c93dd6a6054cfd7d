"""Shared fixtures of the core tests: app settings in the environment, fresh caches."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from durable_assistant.model import Backend
from emulator.testing import RunningEmulator
from tests.support.backends import (
    EMULATOR_CONTROLS,
    SETTING_NAMES,
    Harness,
    StubCredential,
    emulator_settings,
    make_harness,
    reset_caches,
)


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


@pytest.fixture
def credential() -> StubCredential:
    return StubCredential()


@pytest.fixture
def emulator(emulator_session: RunningEmulator) -> Iterator[RunningEmulator]:
    """The session's emulator with no objects or counts, and the core's controls."""
    emulator_session.start_over(**EMULATOR_CONTROLS)
    yield emulator_session
    emulator_session.reset()


@pytest.fixture(params=[Backend.ASSISTANTS, Backend.RESPONSES], ids=lambda b: b.value)
def harness(
    request: pytest.FixtureRequest, emulator: RunningEmulator, clean_env: pytest.MonkeyPatch
) -> Harness:
    """Each backend in turn, with API-key clients of the session's emulator."""
    return make_harness(request.param, emulator, emulator_settings(emulator.url))
