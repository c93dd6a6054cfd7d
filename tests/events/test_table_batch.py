"""Upserts in one entity group transaction with the body built by `table_batch`, on
Azurite: stored as the SDK stores them, all or none, and replacing what was there."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError
from azure.core.rest import HttpRequest
from azure.data.tables import TableClient, UpdateMode

from durable_assistant import table_batch
from durable_assistant.table_batch import upsert_all

PARTITION = "run%2F1 it's"


@pytest.fixture
def table(azurite: str, table_name: str) -> TableClient:
    client = TableClient.from_connection_string(azurite, table_name=table_name, retry_total=1)
    client.create_table()
    return client


def rows(partition: str = PARTITION) -> list[dict[str, object]]:
    return [
        {
            "PartitionKey": partition,
            "RowKey": "!run",
            "instance_id": "run/1 it's",
            "started_at": datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        },
        {
            "PartitionKey": partition,
            "RowKey": "000000000010000",
            "type": "text",
            "data": '{"text": "Zoë said \\"hi\\" — 10 ≤ 12\\r\\n--batch_x"}',
            "count": 3,
        },
    ]


def stored(table: TableClient, partition: str = PARTITION) -> dict[str, dict[str, object]]:
    entities = table.query_entities("PartitionKey eq @pk", parameters={"pk": partition})
    return {str(e["RowKey"]): dict(e) for e in entities}


def test_a_batch_stores_its_rows_as_the_sdk_does(table: TableClient) -> None:
    upsert_all(table, rows())
    for entity in rows("by the sdk"):
        table.upsert_entity(entity, mode=UpdateMode.REPLACE)

    ours, sdk = stored(table), stored(table, "by the sdk")

    assert set(ours) == {"!run", "000000000010000"}
    for key, entity in ours.items():
        assert {**entity, "PartitionKey": "by the sdk"} == sdk[key]
    assert ours["!run"]["started_at"] == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    # A typed date: the purge's query compares it as one.
    cutoff = datetime(2026, 2, 1, tzinfo=UTC)
    found = table.query_entities("started_at lt @cutoff", parameters={"cutoff": cutoff})
    assert [e["RowKey"] for e in found] == ["!run", "!run"]


def test_a_batch_replaces_the_rows_it_names(table: TableClient) -> None:
    upsert_all(table, rows())
    again = [{**rows()[0]}, {k: v for k, v in rows()[1].items() if k != "count"}]
    again[1]["type"] = "end"

    upsert_all(table, again)

    row = stored(table)["000000000010000"]
    assert row["type"] == "end"
    assert "count" not in row  # replaced, not merged


def test_a_row_the_service_refuses_fails_the_batch_and_stores_nothing(
    table: TableClient,
) -> None:
    refused: list[dict[str, object]] = [
        *rows(),
        {"PartitionKey": PARTITION, "RowKey": "x", "data": "y" * 40_000},
    ]

    with pytest.raises(HttpResponseError):
        upsert_all(table, refused)

    assert stored(table) == {}


def test_a_batch_the_service_cannot_read_is_sent_the_sdks_way(
    table: TableClient, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    built = table_batch._batch_request

    def unreadable(client: TableClient, entities: Sequence[Mapping[str, Any]]) -> HttpRequest:
        request = built(client, entities)
        return HttpRequest("POST", request.url, headers=request.headers, content=b"no batch")

    monkeypatch.setattr(table_batch, "_batch_request", unreadable)

    upsert_all(table, rows())

    assert set(stored(table)) == {"!run", "000000000010000"}
    assert "sending it the SDK's way" in caplog.text
