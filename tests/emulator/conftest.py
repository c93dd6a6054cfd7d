"""Fixtures: the session's emulator (started over before each test) and real SDK clients."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from openai import AzureOpenAI, OpenAI

from emulator.testing import RunningEmulator
from tests.support.emulator_sdk import (
    API_VERSION,
    EMULATOR_KEY,
    POLL_MS,
)


@pytest.fixture
def emu(emulator_session: RunningEmulator) -> Iterator[RunningEmulator]:
    """The session's emulator, empty and with the emulator tests' starting controls."""
    emulator_session.start_over(poll_after_ms=POLL_MS)
    yield emulator_session
    emulator_session.reset()


@pytest.fixture
def azure(emu: RunningEmulator) -> AzureOpenAI:
    """The client the app uses for Assistants."""
    return AzureOpenAI(
        azure_endpoint=emu.url, api_key=EMULATOR_KEY, api_version=API_VERSION, max_retries=2
    )


@pytest.fixture
def v1(emu: RunningEmulator) -> OpenAI:
    """The client the app uses for Responses (v1 base URL, key sent as Bearer)."""
    return OpenAI(base_url=emu.url + "/openai/v1/", api_key=EMULATOR_KEY, max_retries=2)
