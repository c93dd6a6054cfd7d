"""A run's ledger writes, each one Table request: claims, marks, the closing of a create."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from bench.table_proxy import counting_tables
from durable_assistant.ledger import TableLedger
from durable_assistant.model import Backend
from durable_assistant.objects import CreatedObject, CreateIntent, ObjectKind

T0 = datetime(2026, 3, 1, 12, tzinfo=UTC)


def _created(object_id: str, instance_id: str = "inst-1") -> CreatedObject:
    return CreatedObject(
        kind=ObjectKind.RESPONSE,
        object_id=object_id,
        instance_id=instance_id,
        backend=Backend.RESPONSES,
        created_at=T0,
    )


def test_mark_deleted_of_marks_only_the_named_objects_of_the_instance(
    ledger: TableLedger,
) -> None:
    for obj in (_created("resp_1"), _created("resp_2"), _created("resp_3")):
        ledger.record(obj)
    ledger.record(_created("resp_1", instance_id="inst-2"))

    ledger.mark_deleted_of(
        "inst-1", [(ObjectKind.RESPONSE, "resp_1"), (ObjectKind.RESPONSE, "resp_2")]
    )

    deleted = {o.object_id: o.deleted for o in ledger.objects_of("inst-1")}
    assert deleted == {"resp_1": True, "resp_2": True, "resp_3": False}
    assert [o.deleted for o in ledger.objects_of("inst-2")] == [False]
    # the purge's view agrees: only the live ones are left to delete
    assert {o.object_id for o in ledger.undeleted()} == {"resp_3", "resp_1"}
    assert {(o.instance_id, o.object_id) for o in ledger.undeleted()} == {
        ("inst-1", "resp_3"),
        ("inst-2", "resp_1"),
    }


def test_mark_deleted_of_takes_more_than_one_batch(ledger: TableLedger) -> None:
    ids = [f"resp_{n}" for n in range(130)]
    for object_id in ids:
        ledger.record(_created(object_id))
    ledger.mark_deleted_of("inst-1", [(ObjectKind.RESPONSE, i) for i in ids])
    assert all(o.deleted for o in ledger.objects_of("inst-1"))


def _first(purpose: str, instance_id: str = "inst-1") -> CreateIntent:
    return CreateIntent.first(instance_id, purpose, ObjectKind.RESPONSE, Backend.RESPONSES)


def test_intents_claimed_first_refuse_a_second_claim_and_write_nothing_then(
    ledger: TableLedger,
) -> None:
    mine = [_first("assistant"), _first("thread")]
    assert ledger.record_intents(mine)

    again = [_first("other"), _first("thread")]
    assert not ledger.record_intents(again)

    assert sorted(i.purpose for i in ledger.intents_of("inst-1")) == ["assistant", "thread"]
    assert ledger.record_intents([_first("thread", instance_id="inst-2")])


def test_a_claim_sent_again_after_its_reply_was_lost_is_still_the_claimer_s(
    ledger: TableLedger,
) -> None:
    """The storage client resends a batch whose reply it lost; the rows it finds are its own."""
    mine = [_first("assistant"), _first("thread")]
    assert ledger.record_intents(mine)

    assert ledger.record_intents(mine)
    assert {i.writer for i in ledger.intents_of("inst-1")} == {i.writer for i in mine}


def test_closing_a_create_that_was_claimed_marks_nothing(ledger: TableLedger) -> None:
    ledger.record(_created("resp_1"))
    assert ledger.record_intents([_first("response after resp_1")])

    closing = _first("response after resp_1")
    assert not ledger.mark_deleted_of("inst-1", [(ObjectKind.RESPONSE, "resp_1")], closing)
    assert [o.deleted for o in ledger.objects_of("inst-1")] == [False]

    closing = _first("response after resp_2")
    assert ledger.mark_deleted_of("inst-1", [(ObjectKind.RESPONSE, "resp_1")], closing)
    assert [o.deleted for o in ledger.objects_of("inst-1")] == [True]
    closed = [i for i in ledger.intents_of("inst-1") if i.purpose == closing.purpose]
    assert [(i.settled, i.object_id) for i in closed] == [(True, None)]


def test_pruning_a_run_s_rows_deletes_them_in_one_batch(azurite: str) -> None:
    with counting_tables(azurite) as (proxy, connection_string):
        ledger = TableLedger.from_connection_string(
            connection_string, "ledger" + uuid.uuid4().hex[:12], retry_total=1
        )
        ids = ["resp_1", "resp_2", "resp_3"]
        for object_id in ids:
            ledger.record(_created(object_id))
        assert ledger.record_intents([_first(f"response after {i}") for i in ids])
        assert ledger.mark_deleted_of("inst-1", [(ObjectKind.RESPONSE, i) for i in ids])
        ledger.record(_created("resp_live", instance_id="inst-2"))
        before = proxy.by_table[ledger.table_name]

        assert ledger.prune(datetime.now(UTC) + timedelta(minutes=1)) == 3

        # the deleted objects, the old intents and the index rows of earlier
        # versions are each one query; the run's six rows one batch
        assert proxy.by_table[ledger.table_name] - before == 4
        assert ledger.intents_of("inst-1") == []
        assert ledger.objects_of("inst-1") == []
        assert [o.object_id for o in ledger.objects_of("inst-2")] == ["resp_live"]
