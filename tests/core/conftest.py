"""Shared fixtures of the core tests: app settings in the environment, fresh caches."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from durable_assistant.model import Backend
from emulator.testing import RunningEmulator
from tests.support.backends import (
    EMULATOR_CONTROLS,
    Harness,
    StubCredential,
    emulator_settings,
    make_harness,
)


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
