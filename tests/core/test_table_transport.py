"""The Table clients' transport: connections kept for many requests at once, and the
environment's proxy settings still honoured (`durable_assistant.table_transport`)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest
from azure.data.tables import TableClient, UpdateMode

from durable_assistant.composition import services
from durable_assistant.ledger import table_client
from localrun.azurite import ACCOUNT, ACCOUNT_KEY
from tests.support.http_serving import serving

AT_ONCE = 24
"""Requests in flight together: more than azure-core's default pool of ten."""


@dataclass
class TableService:
    """A stand-in Table endpoint: answers upserts, notes each request's connection."""

    url: str = ""
    connections: list[tuple[str, int]] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)
    hold: threading.Barrier | None = None


@contextmanager
def table_service() -> Iterator[TableService]:
    state = TableService()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as the Table service

        def do_PUT(self) -> None:
            self.rfile.read(int(self.headers.get("content-length") or 0))
            state.connections.append(self.client_address)
            state.paths.append(self.path)
            if state.hold is not None:
                state.hold.wait(timeout=10)  # every request in flight at once
            self.send_response(204)
            self.send_header("ETag", "W/\"datetime'2026-01-01T00%3A00%3A00Z'\"")
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            return

    with serving(Handler) as url:
        state.url = url
        yield state


def connection_string(endpoint: str) -> str:
    return (
        f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={ACCOUNT_KEY};"
        f"TableEndpoint={endpoint}/{ACCOUNT};"
    )


def app_table(app_env: pytest.MonkeyPatch, endpoint: str) -> TableClient:
    """The app's Table client, as the composition root builds it."""
    app_env.setenv("AzureWebJobsStorage", connection_string(endpoint))
    return table_client(services().settings, "runevents")


def upsert(table: TableClient, row: int) -> None:
    table.upsert_entity({"PartitionKey": "p", "RowKey": str(row)}, mode=UpdateMode.REPLACE)


def test_many_requests_at_once_keep_their_connections_for_the_next(
    app_env: pytest.MonkeyPatch,
) -> None:
    with table_service() as service:
        table = app_table(app_env, service.url)
        rounds: list[set[tuple[str, int]]] = []
        with ThreadPoolExecutor(AT_ONCE) as pool:
            for _ in range(2):
                service.hold = threading.Barrier(AT_ONCE)
                service.connections.clear()
                list(pool.map(lambda row: upsert(table, row), range(AT_ONCE)))
                rounds.append(set(service.connections))

    assert len(rounds[0]) == AT_ONCE
    assert rounds[1] == rounds[0]  # no connection was dropped and opened again


def test_a_proxy_set_in_the_environment_carries_the_requests(
    app_env: pytest.MonkeyPatch,
) -> None:
    with table_service() as proxy:
        app_env.setenv("HTTP_PROXY", proxy.url)
        app_env.delenv("NO_PROXY", raising=False)
        app_env.delenv("no_proxy", raising=False)
        table = app_table(app_env, "http://tables.example.invalid")

        upsert(table, 1)

    assert proxy.paths and proxy.paths[0].startswith("http://tables.example.invalid/")
