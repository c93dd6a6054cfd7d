"""A fresh ledger table per test, on the session's Azurite (tests/conftest.py)."""

from __future__ import annotations

import uuid

import pytest

from durable_assistant.ledger import TableLedger


@pytest.fixture
def ledger(azurite: str) -> TableLedger:
    """A ledger on its own table, so tests never see each other's rows."""
    name = "ledger" + uuid.uuid4().hex[:16]
    return TableLedger.from_connection_string(azurite, name, retry_total=1)
