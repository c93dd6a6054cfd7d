"""Event logs on the session's Azurite (tests/conftest.py), a fresh table per test."""

from __future__ import annotations

import uuid

import pytest
from azure.data.tables import TableClient

from durable_assistant.event_log import RunEvents, TableEventStore
from localrun.stack import Stack


@pytest.fixture
def table_name() -> str:
    return "events" + uuid.uuid4().hex[:16]


@pytest.fixture
def store(azurite: str, table_name: str) -> TableEventStore:
    """An event store on its own table, so tests never see each other's rows."""
    table = TableClient.from_connection_string(azurite, table_name=table_name, retry_total=1)
    return TableEventStore(table)


@pytest.fixture
def log(store: TableEventStore) -> RunEvents:
    return RunEvents(store)


# -- the whole app: devhost running function_app.py, the emulator and Azurite --------
# (the stack of tests/e2e, started once for this folder's session)
from tests.e2e.conftest import app, model, settings, stack  # noqa: E402, F401


@pytest.fixture
def run_log(stack: Stack) -> TableEventStore:  # noqa: F811
    """The event table the app writes (the default EVENTS_TABLE_NAME) in the stack."""
    table = TableClient.from_connection_string(stack.storage, table_name="assistantevents")
    return TableEventStore(table)
