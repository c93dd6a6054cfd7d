"""Fixtures: one emulator for the session (reset before each test) and real SDK clients."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from openai import AzureOpenAI, OpenAI

from emulator.testing import RunningEmulator, running_emulator
from tests.support.emulator_sdk import (
    API_VERSION,
    KEY,
    POLL_MS,
)


@pytest.fixture(scope="session")
def emulator_session() -> Iterator[RunningEmulator]:
    with running_emulator(api_key=KEY, poll_after_ms=POLL_MS) as emu:
        yield emu


@pytest.fixture
def emu(emulator_session: RunningEmulator) -> Iterator[RunningEmulator]:
    """The session's emulator, empty and with its starting controls."""
    emulator_session.reset()
    yield emulator_session
    emulator_session.reset()


@pytest.fixture
def azure(emu: RunningEmulator) -> AzureOpenAI:
    """The client the app uses for Assistants."""
    return AzureOpenAI(azure_endpoint=emu.url, api_key=KEY, api_version=API_VERSION, max_retries=2)


@pytest.fixture
def v1(emu: RunningEmulator) -> OpenAI:
    """The client the app uses for Responses (v1 base URL, key sent as Bearer)."""
    return OpenAI(base_url=emu.url + "/openai/v1/", api_key=KEY, max_retries=2)
