"""Marking a run's objects deleted in one Table request (teardown's last write)."""

from __future__ import annotations

from datetime import UTC, datetime

from durable_assistant.ledger import TableLedger
from durable_assistant.model import Backend
from durable_assistant.objects import CreatedObject, ObjectKind

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
