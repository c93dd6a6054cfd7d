"""TableLedger on a real Azurite: writes, reads, idempotence, paging, pruning, keys."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from azure.core.credentials import AccessToken
from azure.data.tables import TableClient

from durable_assistant.ledger import (
    TableLedger,
    ledger_configured,
    object_row_key,
    table_key,
    table_service_endpoint,
)
from durable_assistant.model import Backend
from durable_assistant.objects import CreatedObject, ObjectKind
from durable_assistant.settings import Settings

T0 = datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)


def created(
    object_id: str,
    instance_id: str = "inst-1",
    kind: ObjectKind = ObjectKind.THREAD,
    at: datetime = T0,
) -> CreatedObject:
    return CreatedObject(
        kind=kind,
        object_id=object_id,
        instance_id=instance_id,
        backend=Backend.ASSISTANTS,
        created_at=at,
    )


STORAGE_SETTINGS = (
    "AzureWebJobsStorage",
    "LEDGER_STORAGE_CONNECTION_STRING",
    "AzureWebJobsStorage__accountName",
    "LEDGER_STORAGE_ACCOUNT",
    "AzureWebJobsStorage__tableServiceUri",
    "LEDGER_TABLE_SERVICE_URI",
)


class FakeCredential:
    """A token credential that is never asked for a token in these tests."""

    def get_token(
        self,
        *scopes: str,
        claims: str | None = None,
        tenant_id: str | None = None,
        enable_cae: bool = False,
        **kwargs: Any,
    ) -> AccessToken:
        raise AssertionError("no request expected")


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No storage setting from the environment leaks into these settings."""
    for name in STORAGE_SETTINGS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", "https://example.openai.azure.com")
    monkeypatch.setenv("AZURE_OPENAI_DEPLOYMENT", "gpt-4o-mini")
    return monkeypatch


def mark(
    ledger: TableLedger, kind: ObjectKind, object_id: str, instance_id: str = "inst-1"
) -> None:
    """Mark one recorded object deleted, as teardown and the purge do."""
    assert ledger.mark_deleted_of(instance_id, [(kind, object_id)])


def settings(**values: str) -> Settings:
    """Settings with these values, by their app setting names."""
    return Settings(**values)  # type: ignore[arg-type]


def test_record_then_objects_of_returns_every_field(ledger: TableLedger) -> None:
    thread = created("thread_1")
    assistant = created("asst_1", kind=ObjectKind.ASSISTANT, at=T0 + timedelta(seconds=1))
    other = created("thread_2", instance_id="inst-2")
    for obj in (thread, assistant, other):
        ledger.record(obj)

    mine = sorted(ledger.objects_of("inst-1"), key=lambda o: o.object_id)

    assert mine == [assistant, thread]
    assert ledger.objects_of("inst-2") == [other]
    assert ledger.objects_of("nobody") == []


def test_record_is_idempotent_and_never_revives_a_deleted_object(ledger: TableLedger) -> None:
    obj = created("thread_1")
    ledger.record(obj)
    ledger.record(obj)
    assert ledger.objects_of("inst-1") == [obj]

    mark(ledger, ObjectKind.THREAD, "thread_1")
    ledger.record(obj)  # e.g. a retried activity

    assert ledger.objects_of("inst-1") == [obj.model_copy(update={"deleted": True})]


def test_marking_an_object_not_on_record_writes_nothing(azurite: str) -> None:
    now = [T0 + timedelta(minutes=1)]
    table = TableClient.from_connection_string(azurite, "ledger" + uuid.uuid4().hex[:12])
    ledger = TableLedger(table, clock=lambda: now[0])
    ledger.record(created("thread_1"))

    unknown = (ObjectKind.THREAD, "thread_unknown")
    other_kind = (ObjectKind.ASSISTANT, "thread_1")  # same id, other kind: unknown
    assert not ledger.mark_deleted_of("inst-1", [(ObjectKind.THREAD, "thread_1"), unknown])
    assert not ledger.mark_deleted_of("inst-1", [other_kind, (ObjectKind.THREAD, "thread_1")])
    assert not ledger.mark_deleted_of("inst-2", [(ObjectKind.THREAD, "thread_1")])
    assert [o.deleted for o in ledger.objects_of("inst-1")] == [False]

    now[0] = T0 + timedelta(minutes=2)
    assert ledger.mark_deleted_of("inst-1", [(ObjectKind.THREAD, "thread_1")])
    [obj] = ledger.objects_of("inst-1")
    assert obj.deleted
    row = table.get_entity("inst-1", object_row_key(ObjectKind.THREAD, "thread_1"))
    assert row["deleted_at"] == T0 + timedelta(minutes=2)
    assert list(ledger.undeleted()) == []


def test_kinds_with_the_same_id_are_different_objects(ledger: TableLedger) -> None:
    ledger.record(created("same", kind=ObjectKind.RESPONSE))
    ledger.record(created("same", kind=ObjectKind.CONVERSATION))

    mark(ledger, ObjectKind.RESPONSE, "same")

    state = {o.kind: o.deleted for o in ledger.objects_of("inst-1")}
    assert state == {ObjectKind.RESPONSE: True, ObjectKind.CONVERSATION: False}


def test_ids_with_characters_table_keys_forbid_round_trip(ledger: TableLedger) -> None:
    instance_id = "tenant/a#b?c\\d%e~f\x01"
    obj = created("thread/with#odd?chars\\and%~\x7f", instance_id=instance_id)
    ledger.record(obj)
    ledger.record(created("plain", instance_id="tenant"))

    assert ledger.objects_of(instance_id) == [obj]
    mark(ledger, ObjectKind.THREAD, obj.object_id, instance_id)
    assert ledger.objects_of(instance_id)[0].deleted
    assert [o.object_id for o in ledger.undeleted()] == ["plain"]


def test_table_key_escapes_only_what_it_must() -> None:
    assert table_key("0c9a1f2e-instance_id.v2:x") == "0c9a1f2e-instance_id.v2:x"
    assert table_key("a/b\\c#d?e%f~g\nh\x85") == "a%2Fb%5Cc%23d%3Fe%25f%7Eg%0Ah%85"


def test_undeleted_pages_through_more_than_one_page(ledger: TableLedger) -> None:
    objects = [created(f"resp_{n:03}", instance_id=f"inst-{n % 4}") for n in range(23)]
    for obj in objects:
        ledger.record(obj)
    for obj in objects[:3]:
        mark(ledger, obj.kind, obj.object_id, obj.instance_id)

    pages = list(ledger.undeleted_pages(page_size=5))

    assert len(pages) >= 4
    assert all(len(page) <= 5 for page in pages)
    seen = [o.object_id for page in pages for o in page]
    assert sorted(seen) == [o.object_id for o in objects[3:]]
    assert sorted(o.object_id for o in ledger.undeleted(page_size=7)) == sorted(seen)


def test_marking_deleted_while_paging_misses_nothing(ledger: TableLedger) -> None:
    for n in range(12):
        ledger.record(created(f"thread_{n:02}", instance_id=f"inst-{n:02}"))

    visited = []
    for obj in ledger.undeleted(page_size=3):
        visited.append(obj.object_id)
        mark(ledger, obj.kind, obj.object_id, obj.instance_id)

    assert sorted(visited) == [f"thread_{n:02}" for n in range(12)]
    assert list(ledger.undeleted()) == []


def test_prune_drops_only_rows_deleted_before_the_cutoff(azurite: str) -> None:
    now = [T0]
    table = TableClient.from_connection_string(azurite, "ledger" + uuid.uuid4().hex[:12])
    ledger = TableLedger(table, clock=lambda: now[0])
    for name in ("old", "recent", "live"):
        ledger.record(created(f"thread_{name}"))
        # as earlier versions wrote beside each object
        index = {"PartitionKey": "~" + object_row_key(ObjectKind.THREAD, f"thread_{name}")}
        table.create_entity({**index, "RowKey": "owner", "instance_id": "inst-1"})
    mark(ledger, ObjectKind.THREAD, "thread_old")
    now[0] = T0 + timedelta(days=3)
    mark(ledger, ObjectKind.THREAD, "thread_recent")

    assert ledger.prune(T0 + timedelta(days=1)) == 1
    assert ledger.prune(T0 + timedelta(days=1)) == 0

    left = {o.object_id: o.deleted for o in ledger.objects_of("inst-1")}
    assert left == {"thread_recent": True, "thread_live": False}
    index_rows = list(table.query_entities("RowKey eq 'owner'"))
    assert len(index_rows) == 2  # the pruned object's index row went with it


def test_table_is_created_once_and_shared(azurite: str) -> None:
    name = "ledger" + uuid.uuid4().hex[:12]
    first = TableLedger.from_connection_string(azurite, name)
    second = TableLedger.from_connection_string(azurite, name)
    first.record(created("thread_1"))
    second.record(created("thread_2"))  # table exists already: no error

    assert {o.object_id for o in first.objects_of("inst-1")} == {"thread_1", "thread_2"}


@pytest.mark.usefixtures("clean_env")
def test_from_settings_uses_the_connection_string(azurite: str) -> None:
    name = "ledger" + uuid.uuid4().hex[:12]
    ledger = TableLedger.from_settings(
        settings(AzureWebJobsStorage=azurite, LEDGER_TABLE_NAME=name)
    )
    ledger.record(created("thread_1"))

    assert ledger.table_name == name
    assert [o.object_id for o in ledger.objects_of("inst-1")] == ["thread_1"]


@pytest.mark.usefixtures("clean_env")
def test_identity_settings_pick_the_table_endpoint() -> None:
    by_account = settings(AzureWebJobsStorage__accountName="mystore")
    by_uri = settings(
        AzureWebJobsStorage__tableServiceUri="https://mystore.table.core.windows.net/"
    )

    assert table_service_endpoint(by_account) == "https://mystore.table.core.windows.net"
    assert table_service_endpoint(by_uri) == "https://mystore.table.core.windows.net"
    assert ledger_configured(by_account)
    assert ledger_configured(settings(AzureWebJobsStorage="UseDevelopmentStorage=true"))
    assert not ledger_configured(settings())
    with pytest.raises(ValueError, match="AzureWebJobsStorage__accountName"):
        TableLedger.from_settings(settings())


def test_identity_ledger_from_the_functions_host_settings(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("AzureWebJobsStorage__accountName", "prodstore")

    ledger = TableLedger.from_settings(Settings(), credential=FakeCredential())

    assert ledger.table_url.startswith("https://prodstore.table.core.windows.net")
