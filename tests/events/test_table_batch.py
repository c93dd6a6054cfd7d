"""One partition's writes in one entity group transaction with the body built by
`table_batch`, on Azurite: stored as the SDK stores them, all or none, each verb
doing what the SDK's does."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import pytest
from azure.core.rest import HttpRequest
from azure.data.tables import TableClient, UpdateMode

from durable_assistant import table_batch
from durable_assistant.table_batch import Operation, RefusedBatch, transact

PARTITION = "run%2F1 it's"
REPLACE = {"mode": UpdateMode.REPLACE}
MERGE = {"mode": UpdateMode.MERGE}


@pytest.fixture
def table(azurite: str, table_name: str) -> TableClient:
    client = TableClient.from_connection_string(azurite, table_name=table_name, retry_total=1)
    client.create_table()
    return client


def rows(partition: str = PARTITION) -> list[dict[str, Any]]:
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


def upserts(entities: Sequence[dict[str, Any]]) -> list[Operation]:
    return [("upsert", entity, REPLACE) for entity in entities]


def stored(table: TableClient, partition: str = PARTITION) -> dict[str, dict[str, Any]]:
    entities = table.query_entities("PartitionKey eq @pk", parameters={"pk": partition})
    return {str(e["RowKey"]): dict(e) for e in entities}


def test_a_batch_stores_its_rows_as_the_sdk_does(table: TableClient) -> None:
    transact(table, upserts(rows()))
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


def test_each_verb_does_what_the_sdk_s_does(table: TableClient) -> None:
    for key in ("replaced", "merged", "updated", "deleted"):
        table.upsert_entity({"PartitionKey": PARTITION, "RowKey": key, "old": 1, "keep": 1})

    transact(
        table,
        [
            ("create", {"PartitionKey": PARTITION, "RowKey": "created", "new": 2}),
            ("upsert", {"PartitionKey": PARTITION, "RowKey": "replaced", "new": 2}, REPLACE),
            ("upsert", {"PartitionKey": PARTITION, "RowKey": "merged", "old": 2}, MERGE),
            ("update", {"PartitionKey": PARTITION, "RowKey": "updated", "old": 2}, MERGE),
            ("delete", {"PartitionKey": PARTITION, "RowKey": "deleted"}),
        ],
    )

    after = {
        key: {k: v for k, v in e.items() if k not in ("PartitionKey", "RowKey")}
        for key, e in stored(table).items()
    }
    assert after == {
        "created": {"new": 2},
        "replaced": {"new": 2},
        "merged": {"old": 2, "keep": 1},
        "updated": {"old": 2, "keep": 1},
    }


@pytest.mark.parametrize(
    ("operation", "status"),
    [
        (("create", {"PartitionKey": PARTITION, "RowKey": "there"}), 409),
        (("update", {"PartitionKey": PARTITION, "RowKey": "missing", "a": 1}, MERGE), 404),
        (("upsert", {"PartitionKey": PARTITION, "RowKey": "x", "data": "y" * 40_000}, MERGE), 400),
    ],
)
def test_an_operation_the_service_refuses_fails_the_batch_and_writes_nothing(
    table: TableClient, operation: Operation, status: int
) -> None:
    table.upsert_entity({"PartitionKey": PARTITION, "RowKey": "there"})

    with pytest.raises(RefusedBatch) as refused:
        transact(table, [*upserts(rows()), operation])

    assert refused.value.status_code == status
    assert set(stored(table)) == {"there"}


def test_a_batch_the_service_does_not_take_is_sent_the_sdk_s_way(
    table: TableClient, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    built = table_batch._batch_request

    def unreadable(client: TableClient, operations: Sequence[Operation]) -> HttpRequest:
        request = built(client, operations)
        return HttpRequest("POST", request.url, headers=request.headers, content=b"no batch")

    monkeypatch.setattr(table_batch, "_batch_request", unreadable)

    transact(table, upserts(rows()))

    assert set(stored(table)) == {"!run", "000000000010000"}
    assert "sending it the SDK's way" in caplog.text
