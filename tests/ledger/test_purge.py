"""The purge over a real Table ledger (Azurite), with fake orchestrations and model service.

The model service here is a set of live object ids; the emulator-backed tests in
test_purge_emulator.py do the same through the real OpenAI SDK.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest

from durable_assistant.backends import DeleteOutcome
from durable_assistant.ledger import TableLedger
from durable_assistant.model import Backend, RuntimeStatus
from durable_assistant.objects import (
    APP_TAG_KEY,
    APP_TAG_VALUE,
    INSTANCE_TAG_KEY,
    CreatedObject,
    ObjectKind,
)
from durable_assistant.purge import (
    ListedAssistant,
    PurgeCounts,
    PurgePolicy,
    PurgeReport,
    purge_leftovers,
)

NOW = datetime(2026, 5, 1, 3, 0, tzinfo=UTC)
POLICY = PurgePolicy(object_ttl=timedelta(hours=24), history_retention=timedelta(days=7))
OLD = NOW - timedelta(hours=30)  # past the TTL
YOUNG = NOW - timedelta(hours=1)


@dataclass
class Instance:
    status: RuntimeStatus
    created_at: datetime = OLD


@dataclass
class FakeOrchestrations:
    """Instances by id; status lookups of `unreachable` ids raise."""

    instances: dict[str, Instance] = field(default_factory=dict)
    unreachable: set[str] = field(default_factory=set)
    lookups: list[str] = field(default_factory=list)
    purge_calls: list[tuple[datetime, tuple[RuntimeStatus, ...]]] = field(default_factory=list)
    purge_error: Exception | None = None

    def status_of(self, instance_id: str) -> RuntimeStatus | None:
        self.lookups.append(instance_id)
        if instance_id in self.unreachable:
            raise ConnectionError("durable client timed out")
        found = self.instances.get(instance_id)
        return found.status if found else None

    def purge_history(self, created_before: datetime, statuses: Sequence[RuntimeStatus]) -> int:
        self.purge_calls.append((created_before, tuple(statuses)))
        if self.purge_error is not None:
            raise self.purge_error
        doomed = [
            iid
            for iid, inst in self.instances.items()
            if inst.created_at < created_before and inst.status in statuses
        ]
        for iid in doomed:
            del self.instances[iid]
        return len(doomed)


@dataclass
class FakeModelService:
    """Live server-side objects; ids in `fail_once` raise on their first delete."""

    live: set[tuple[ObjectKind, str]] = field(default_factory=set)
    fail_once: set[tuple[ObjectKind, str]] = field(default_factory=set)
    assistants: list[ListedAssistant] = field(default_factory=list)
    list_fails_after: int | None = None

    def create(self, ledger: TableLedger, obj: CreatedObject) -> CreatedObject:
        self.live.add((obj.kind, obj.object_id))
        ledger.record(obj)
        return obj

    def delete(self, obj: CreatedObject) -> DeleteOutcome:
        key = (obj.kind, obj.object_id)
        if key in self.fail_once:
            self.fail_once.discard(key)
            raise TimeoutError(f"transient failure deleting {obj.object_id}")
        if key in self.live:
            self.live.discard(key)
            return "deleted"
        return "already_gone"

    def list_assistants(self) -> Iterator[ListedAssistant]:
        for n, assistant in enumerate(self.assistants):
            if self.list_fails_after is not None and n >= self.list_fails_after:
                raise ConnectionError("listing broke mid-way")
            if (ObjectKind.ASSISTANT, assistant.assistant_id) in self.live:
                yield assistant


def thread(instance_id: str, at: datetime = OLD, n: int = 1) -> CreatedObject:
    return CreatedObject(
        kind=ObjectKind.THREAD,
        object_id=f"thread_{instance_id}_{n}",
        instance_id=instance_id,
        backend=Backend.ASSISTANTS,
        created_at=at,
    )


def response(instance_id: str, at: datetime = OLD) -> CreatedObject:
    return CreatedObject(
        kind=ObjectKind.RESPONSE,
        object_id=f"resp_{instance_id}",
        instance_id=instance_id,
        backend=Backend.RESPONSES,
        created_at=at,
    )


def purge(
    ledger: TableLedger | None,
    orchestrations: FakeOrchestrations,
    service: FakeModelService,
    *,
    with_assistants: bool = False,
    now: datetime = NOW,
) -> PurgeReport:
    return purge_leftovers(
        orchestrations=orchestrations,
        deleter=service.delete,
        ledger=ledger,
        assistants=service if with_assistants else None,
        policy=POLICY,
        now=now,
    )


def live_ids(ledger: TableLedger) -> set[str]:
    return {o.object_id for o in ledger.undeleted()}


FINISHED = [
    RuntimeStatus.COMPLETED,
    RuntimeStatus.FAILED,
    RuntimeStatus.TERMINATED,
    RuntimeStatus.CANCELED,
]
ACTIVE = [
    RuntimeStatus.RUNNING,
    RuntimeStatus.PENDING,
    RuntimeStatus.SUSPENDED,
    RuntimeStatus.CONTINUED_AS_NEW,
]


def test_deletes_objects_of_finished_and_of_vanished_old_instances_only(
    ledger: TableLedger,
) -> None:
    orchestrations = FakeOrchestrations()
    service = FakeModelService()
    doomed: set[str] = set()
    kept: set[str] = set()
    for status in FINISHED:  # finished: deleted whatever their age
        iid = f"done-{status.value}"
        orchestrations.instances[iid] = Instance(status)
        doomed.add(service.create(ledger, thread(iid, at=YOUNG)).object_id)
        doomed.add(service.create(ledger, response(iid, at=OLD)).object_id)
    for status in ACTIVE:  # active: never, however old
        iid = f"active-{status.value}"
        orchestrations.instances[iid] = Instance(status, created_at=NOW - timedelta(days=30))
        kept.add(service.create(ledger, thread(iid, at=NOW - timedelta(days=30))).object_id)
    # No such instance (history purged, or never started): by age alone.
    doomed.add(service.create(ledger, thread("vanished-old", at=OLD)).object_id)
    kept.add(service.create(ledger, thread("vanished-young", at=YOUNG)).object_id)

    report = purge(ledger, orchestrations, service)

    assert report.ledger == PurgeCounts(found=14, deleted=9, skipped=5)
    assert {oid for _, oid in service.live} == kept
    assert live_ids(ledger) == kept
    for status in ACTIVE:
        assert not ledger.objects_of(f"active-{status.value}")[0].deleted
    # One status lookup per instance, not per object.
    assert sorted(orchestrations.lookups) == sorted(set(orchestrations.lookups))


def test_running_twice_deletes_nothing_more(ledger: TableLedger) -> None:
    orchestrations = FakeOrchestrations(
        {"done": Instance(RuntimeStatus.COMPLETED), "busy": Instance(RuntimeStatus.RUNNING)}
    )
    service = FakeModelService()
    for n in range(3):
        service.create(ledger, thread("done", n=n))
        service.create(ledger, thread("busy", n=n))

    first = purge(ledger, orchestrations, service)
    second = purge(ledger, orchestrations, service)

    assert first.ledger == PurgeCounts(found=6, deleted=3, skipped=3)
    assert second.ledger == PurgeCounts(found=3, skipped=3)
    assert second.totals.deleted == second.totals.already_gone == second.totals.failed == 0


def test_a_transient_failure_does_not_stop_the_rest(ledger: TableLedger) -> None:
    orchestrations = FakeOrchestrations({"done": Instance(RuntimeStatus.FAILED)})
    service = FakeModelService()
    objects = [service.create(ledger, thread("done", n=n)) for n in range(5)]
    flaky = objects[2]
    service.fail_once.add((flaky.kind, flaky.object_id))

    first = purge(ledger, orchestrations, service)

    assert first.ledger == PurgeCounts(found=5, deleted=4, failed=1)
    assert live_ids(ledger) == {flaky.object_id}  # not marked: it is still there
    assert service.live == {(flaky.kind, flaky.object_id)}

    second = purge(ledger, orchestrations, service)

    assert second.ledger == PurgeCounts(found=1, deleted=1)
    assert live_ids(ledger) == set()
    assert service.live == set()


def test_objects_gone_already_are_counted_and_marked(ledger: TableLedger) -> None:
    orchestrations = FakeOrchestrations({"done": Instance(RuntimeStatus.TERMINATED)})
    service = FakeModelService()
    ledger.record(thread("done"))  # recorded, but the service no longer has it

    report = purge(ledger, orchestrations, service)

    assert report.ledger == PurgeCounts(found=1, already_gone=1)
    assert live_ids(ledger) == set()


def test_an_unreachable_status_keeps_that_instance_objects_and_goes_on(
    ledger: TableLedger,
) -> None:
    orchestrations = FakeOrchestrations(
        {"done": Instance(RuntimeStatus.COMPLETED), "unknown": Instance(RuntimeStatus.COMPLETED)},
        unreachable={"unknown"},
    )
    service = FakeModelService()
    service.create(ledger, thread("unknown", n=1))
    service.create(ledger, thread("unknown", n=2))
    service.create(ledger, thread("done"))

    report = purge(ledger, orchestrations, service)

    assert report.ledger == PurgeCounts(found=3, deleted=1, failed=2)
    assert live_ids(ledger) == {"thread_unknown_1", "thread_unknown_2"}
    assert orchestrations.lookups.count("unknown") == 1


def test_history_purge_takes_finished_instances_older_than_the_retention(
    ledger: TableLedger,
) -> None:
    week_ago = NOW - POLICY.history_retention
    orchestrations = FakeOrchestrations(
        {
            "old-done": Instance(RuntimeStatus.COMPLETED, week_ago - timedelta(hours=1)),
            "old-failed": Instance(RuntimeStatus.FAILED, week_ago - timedelta(days=20)),
            "old-terminated": Instance(RuntimeStatus.TERMINATED, week_ago - timedelta(days=2)),
            "old-running": Instance(RuntimeStatus.RUNNING, week_ago - timedelta(days=2)),
            "old-suspended": Instance(RuntimeStatus.SUSPENDED, week_ago - timedelta(days=2)),
            "recent-done": Instance(RuntimeStatus.COMPLETED, week_ago + timedelta(hours=1)),
        }
    )

    report = purge(ledger, orchestrations, FakeModelService())

    assert report.history_purged == 3
    assert orchestrations.purge_calls == [(week_ago, tuple(FINISHED))]
    assert set(orchestrations.instances) == {"old-running", "old-suspended", "recent-done"}


def test_a_failed_history_purge_is_counted_and_nothing_else_stops(ledger: TableLedger) -> None:
    orchestrations = FakeOrchestrations(
        {"done": Instance(RuntimeStatus.COMPLETED)}, purge_error=RuntimeError("503")
    )
    service = FakeModelService()
    service.create(ledger, thread("done"))

    report = purge(ledger, orchestrations, service)

    assert report.ledger.deleted == 1
    assert report.cleanup_failed == 1
    assert report.totals.failed == 1


def test_ledger_rows_of_long_deleted_objects_are_pruned(ledger: TableLedger) -> None:
    orchestrations = FakeOrchestrations({"done": Instance(RuntimeStatus.COMPLETED)})
    service = FakeModelService()
    service.create(ledger, thread("done"))

    # Marked deleted "now" by the ledger's clock; pruned once the retention has passed.
    assert purge(ledger, orchestrations, service).ledger_rows_pruned == 0
    later = datetime.now(UTC) + POLICY.history_retention + timedelta(minutes=1)
    assert purge(ledger, orchestrations, service, now=later).ledger_rows_pruned == 1
    assert ledger.objects_of("done") == []


def tagged(assistant_id: str, instance_id: str | None, at: datetime) -> ListedAssistant:
    metadata = {APP_TAG_KEY: APP_TAG_VALUE}
    if instance_id is not None:
        metadata[INSTANCE_TAG_KEY] = instance_id
    return ListedAssistant(assistant_id=assistant_id, created_at=at, metadata=metadata)


def test_tagged_orphan_assistants_are_deleted_by_listing() -> None:
    orchestrations = FakeOrchestrations(
        {"done": Instance(RuntimeStatus.COMPLETED), "busy": Instance(RuntimeStatus.RUNNING)}
    )
    service = FakeModelService()
    service.assistants = [
        tagged("asst_done", "done", OLD),  # finished owner
        tagged("asst_vanished", "vanished", OLD),  # owner unknown (history purged)
        tagged("asst_untracked", None, OLD),  # tagged, owner not recorded
        tagged("asst_busy", "busy", OLD),  # owner still running: kept
        tagged("asst_young", "done", YOUNG),  # owner over: deleted at once, young as it is
        tagged("asst_young_vanished", "vanished", YOUNG),  # owner unknown, within the TTL
        ListedAssistant(assistant_id="asst_someone_elses", created_at=OLD),  # not ours
        ListedAssistant(
            assistant_id="asst_other_app", created_at=OLD, metadata={APP_TAG_KEY: "other-app"}
        ),
    ]
    service.live = {(ObjectKind.ASSISTANT, a.assistant_id) for a in service.assistants}

    # No ledger at all: the listing alone finds them.
    report = purge(None, orchestrations, service, with_assistants=True)

    assert report.assistants == PurgeCounts(found=6, deleted=4, skipped=2)
    assert {oid for _, oid in service.live} == {
        "asst_busy",
        "asst_young_vanished",
        "asst_someone_elses",
        "asst_other_app",
    }
    again = purge(None, orchestrations, service, with_assistants=True)
    assert again.assistants == PurgeCounts(found=2, skipped=2)


def test_an_assistant_deleted_by_listing_is_marked_in_the_ledger(ledger: TableLedger) -> None:
    orchestrations = FakeOrchestrations({"busy": Instance(RuntimeStatus.RUNNING)})
    service = FakeModelService()
    # Recorded under a different (say, mistyped) owner: the ledger step keeps it,
    # the listing finds the tagged owner gone and deletes it.
    service.assistants = [tagged("asst_1", "gone", OLD)]
    service.create(
        ledger,
        CreatedObject(
            kind=ObjectKind.ASSISTANT,
            object_id="asst_1",
            instance_id="busy",
            backend=Backend.ASSISTANTS,
            created_at=OLD,
        ),
    )

    report = purge(ledger, orchestrations, service, with_assistants=True)

    assert report.ledger == PurgeCounts(found=1, skipped=1)
    assert report.assistants == PurgeCounts(found=1, deleted=1)
    assert live_ids(ledger) == set()


def test_a_listing_that_breaks_midway_still_purges_what_it_listed(ledger: TableLedger) -> None:
    service = FakeModelService()
    service.assistants = [tagged(f"asst_{n}", None, OLD) for n in range(4)]
    service.live = {(ObjectKind.ASSISTANT, a.assistant_id) for a in service.assistants}
    service.list_fails_after = 2

    report = purge(ledger, FakeOrchestrations(), service, with_assistants=True)

    assert report.assistants == PurgeCounts(found=2, deleted=2, failed=1)


def test_a_broken_ledger_is_one_failure_and_the_other_steps_run() -> None:
    class BrokenLedger:
        def undeleted(self) -> Iterator[CreatedObject]:
            raise ConnectionError("table service unreachable")
            yield  # pragma: no cover

        def mark_deleted_of(
            self, instance_id: str, objects: Sequence[tuple[ObjectKind, str]]
        ) -> bool:
            raise ConnectionError("table service unreachable")

        def prune(self, deleted_before: datetime) -> int:
            raise ConnectionError("table service unreachable")

    service = FakeModelService()
    service.assistants = [tagged("asst_1", None, OLD)]
    service.live = {(ObjectKind.ASSISTANT, "asst_1")}
    orchestrations = FakeOrchestrations(
        {"x": Instance(RuntimeStatus.COMPLETED, NOW - timedelta(days=8))}
    )

    report = purge_leftovers(
        orchestrations=orchestrations,
        deleter=service.delete,
        ledger=BrokenLedger(),
        assistants=service,
        policy=POLICY,
        now=NOW,
    )

    assert report.ledger == PurgeCounts(failed=1)
    # Deleted on the service; only marking it in the ledger failed.
    assert report.assistants == PurgeCounts(found=1, deleted=1, failed=1)
    assert service.live == set()
    assert report.history_purged == 1
    assert report.cleanup_failed == 1  # the prune


def test_now_must_be_aware() -> None:
    with pytest.raises(ValueError, match="timezone"):
        purge(None, FakeOrchestrations(), FakeModelService(), now=datetime(2026, 5, 1))
