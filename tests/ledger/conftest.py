"""One Azurite for the whole test session, and a fresh ledger table per test."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from durable_assistant.ledger import TableLedger
from tests.support.azurite import running_azurite


@pytest.fixture(scope="session")
def azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The connection string of an Azurite started for this session."""
    with running_azurite(Path(tmp_path_factory.mktemp("azurite"))) as connection_string:
        yield connection_string


@pytest.fixture
def ledger(azurite: str) -> TableLedger:
    """A ledger on its own table, so tests never see each other's rows."""
    name = "ledger" + uuid.uuid4().hex[:16]
    return TableLedger.from_connection_string(azurite, name, retry_total=1)
