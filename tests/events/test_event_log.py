"""The run event log on a real Table service (Azurite): order, exactly-once, bounds,
waiting readers, text coalescing and the purge."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta

from azure.data.tables import TableClient

from durable_assistant.event_log import (
    LEGACY_RUNS_PARTITION,
    MemoryEventStore,
    RunEvents,
    TableEventStore,
    text_of,
)
from durable_assistant.events import (
    MAX_ANSWER_CHARS,
    OUTPUT_CHARS,
    EventSlot,
    EventType,
    StoredEvent,
    end_event,
    phase_event,
    text_event,
    tool_finished,
    tool_started,
)
from durable_assistant.model import (
    Backend,
    Outcome,
    Phase,
    RunResult,
    RuntimeStatus,
    ToolCall,
    ToolResult,
)
from durable_assistant.purge import PurgePolicy, PurgeReport, purge_leftovers
from tests.support.waiting import wait_until

CALL = ToolCall(call_id="call_1", name="get_flights", arguments='{"date_1": "2015-04-24"}')
RESULT = ToolResult(call_id="call_1", name="get_flights", output='{"flights": 2172}', ok=True)


def kinds(events: Sequence[StoredEvent]) -> list[tuple[str, str | None]]:
    """(type, the phase or tool status) of each event: what order tests compare."""
    return [(e.type.value, e.data.get("phase") or e.data.get("status")) for e in events]


def test_events_read_back_in_the_runs_order_whatever_the_write_order(log: RunEvents) -> None:
    later = log.writer("run-1", EventSlot(slot=3, step=1))
    earlier = log.writer(
        "run-1", EventSlot(slot=2, step=1, record=[phase_event(Phase.RUNNING_TOOLS, 1)])
    )

    later.write(tool_started(CALL, 1))
    earlier.write(tool_started(CALL, 1))
    earlier.write(tool_finished(RESULT, 1))
    later.write(tool_finished(RESULT, 1))

    events = log.store.read("run-1", after=0, limit=100)
    assert kinds(events) == [
        ("phase", "running_tools"),
        ("tool_call", "started"),
        ("tool_call", "finished"),
        ("tool_call", "started"),
        ("tool_call", "finished"),
    ]
    seqs = [e.seq for e in events]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    assert events[2].data == {
        "status": "finished",
        "step": 1,
        "call_id": "call_1",
        "name": "get_flights",
        "ok": True,
        "output": '{"flights": 2172}',
        "duration_ms": 0,
    }


def test_a_retried_activity_rewrites_its_events_and_adds_none(log: RunEvents) -> None:
    slot = EventSlot(slot=0, record=[phase_event(Phase.STARTING, 0)])
    for _attempt in range(3):  # the same slot, as a retry or a re-run after a crash gets
        writer = log.writer("run-1", slot)
        writer.write(tool_started(CALL, 0))
        writer.write(tool_finished(RESULT, 0))

    events = log.store.read("run-1", after=0, limit=100)
    assert kinds(events) == [
        ("phase", "starting"),
        ("tool_call", "started"),
        ("tool_call", "finished"),
    ]


def test_reading_after_a_sequence_number_resumes_after_it(log: RunEvents) -> None:
    writer = log.writer("run-1", EventSlot(slot=0))
    writer.write(*(text_event(i, "x") for i in range(5)))
    everything = log.store.read("run-1", after=0, limit=100)
    assert len(everything) == 5

    rest = log.store.read("run-1", after=everything[1].seq, limit=100)
    assert rest == everything[2:]
    assert log.store.read("run-1", after=everything[-1].seq, limit=100) == []
    assert log.store.read("run-1", after=0, limit=2) == everything[:2]


class CountingTable:
    """A TableClient that notes which of its request methods were called."""

    def __init__(self, table: TableClient) -> None:
        self._table = table
        self.calls: list[str] = []

    def __getattr__(self, name: str) -> object:
        attribute = getattr(self._table, name)
        if name in {"upsert_entity", "submit_transaction", "create_entity", "update_entity"}:

            def counted(*args: object, **kwargs: object) -> object:
                self.calls.append(name)
                return attribute(*args, **kwargs)

            return counted
        return attribute


def test_a_write_of_several_events_is_one_plain_upsert(azurite: str, table_name: str) -> None:
    table = CountingTable(TableClient.from_connection_string(azurite, table_name=table_name))
    store = TableEventStore(table)  # type: ignore[arg-type]
    log = RunEvents(store)
    slot = EventSlot(slot=0, record=[phase_event(Phase.STARTING, 0)])

    log.writer("run-1", slot).write(tool_started(CALL, 0), tool_finished(RESULT, 0))

    assert table.calls == ["upsert_entity"]  # not a batch transaction
    assert kinds(store.read("run-1", after=0, limit=10)) == [
        ("phase", "starting"),
        ("tool_call", "started"),
        ("tool_call", "finished"),
    ]
    assert store.runs_started_before(datetime.now(UTC) + timedelta(days=1)) == ["run-1"]


def test_a_write_too_big_for_one_row_is_cut_into_rows_and_reads_back_whole(log: RunEvents) -> None:
    texts = [text_event(i * 4_000, "\u00e9" * 4_000) for i in range(99)]

    log.writer("run-1", EventSlot(slot=0)).write(*texts)

    events = log.store.read("run-1", after=0, limit=1_000)
    assert [e.data["offset"] for e in events] == [i * 4_000 for i in range(99)]
    assert "".join(text_of(events)) == "\u00e9" * 4_000 * 99


def test_a_retry_cutting_its_text_otherwise_reads_as_one_text(log: RunEvents) -> None:
    """A retried model call follows the same turn but meets its deltas at other times:
    its text goes under the same sequence numbers in other rows."""
    first = log.writer("run-1", EventSlot(slot=0))
    first.write(text_event(0, "Hel"))
    first.write(text_event(3, "lo wor"))
    first.write(text_event(9, "ld"))
    again = log.writer("run-1", EventSlot(slot=0))
    again.write(text_event(0, "Hello "), text_event(6, "world"))

    events = log.store.read("run-1", after=0, limit=100)

    assert len({e.seq for e in events}) == len(events) == 3
    assert "".join(text_of(events)) == "Hello world"


def test_runs_whose_ids_need_escaping_keep_their_own_events(log: RunEvents) -> None:
    ids = ["a/b", "a%2Fb", "a#b?c", "~runs"]
    for index, instance_id in enumerate(ids):
        log.writer(instance_id, EventSlot(slot=0)).write(text_event(0, str(index)))
    for index, instance_id in enumerate(ids):
        (event,) = log.store.read(instance_id, after=0, limit=10)
        assert event.data["text"] == str(index)


def test_without_a_slot_an_activity_records_nothing(log: RunEvents) -> None:
    log.writer("run-1", None).write(tool_started(CALL, 0))
    assert log.store.read("run-1", after=0, limit=10) == []


def test_big_values_are_cut_short_and_oversized_events_refused() -> None:
    huge = ToolResult(call_id="c", name="t", output="z" * 100_000)
    assert len(tool_finished(huge, 1).data["output"]) == OUTPUT_CHARS
    result = RunResult(
        outcome=Outcome.COMPLETED,
        answer="a" * (MAX_ANSWER_CHARS * 2),
        backend=Backend.RESPONSES,
        started_at="2026-01-01T00:00:00+00:00",
        finished_at="2026-01-01T00:00:01+00:00",
    )
    end = end_event(result).data
    assert len(end["answer"]) == MAX_ANSWER_CHARS and end["answer_truncated"] is True


def test_a_big_answer_fits_in_one_table_property(log: RunEvents, store: TableEventStore) -> None:
    result = RunResult(
        outcome=Outcome.COMPLETED,
        answer="€" * (MAX_ANSWER_CHARS * 2),
        backend=Backend.RESPONSES,
        started_at="2026-01-01T00:00:00+00:00",
        finished_at="2026-01-01T00:00:01+00:00",
    )
    log.writer("run-1", EventSlot(slot=9)).write(end_event(result))
    (event,) = store.read("run-1", after=0, limit=10)
    assert event.type is EventType.END and event.data["answer"] == "€" * MAX_ANSWER_CHARS


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class ManualTimer:
    """A `Timer` that fires only when told to."""

    def __init__(self) -> None:
        self.pending: list[tuple[float, Callable[[], None]]] = []

    def __call__(self, delay: float, function: Callable[[], None]) -> Callable[[], None]:
        entry = (delay, function)
        self.pending.append(entry)
        return lambda: self.pending.remove(entry) if entry in self.pending else None

    def fire(self) -> None:
        pending, self.pending = self.pending, []
        for _, function in pending:
            function()


def test_text_deltas_are_coalesced_and_the_first_goes_out_at_once(log: RunEvents) -> None:
    clock = Clock()
    writer = log.writer("run-1", EventSlot(slot=4))
    sink = writer.text_sink(interval_seconds=0.1, clock=clock, timer=ManualTimer())
    deltas = [(0.0, "The "), (0.03, "answer "), (0.06, "is "), (0.12, "2172"), (0.15, " days.")]
    counts = []
    for at, delta in deltas:
        clock.now = at
        sink(delta)
        counts.append(len(log.store.read("run-1", after=0, limit=100)))
    writer.write(*sink.close())

    assert counts == [1, 1, 1, 2, 2]  # the first at once, then one per 100 ms
    events = log.store.read("run-1", after=0, limit=100)
    assert [(e.data["offset"], e.data["text"]) for e in events] == [
        (0, "The "),
        (4, "answer is 2172"),
        (18, " days."),
    ]
    assert "".join(text_of(events)) == "The answer is 2172 days."


def test_text_waiting_for_its_interval_goes_out_when_no_delta_follows(log: RunEvents) -> None:
    clock = Clock()
    timer = ManualTimer()
    sink = log.writer("run-1", EventSlot(slot=4)).text_sink(
        interval_seconds=0.1, clock=clock, timer=timer
    )
    sink("The ")
    clock.now = 0.04
    sink("answer")
    clock.now = 0.06
    sink(" is")  # the model pauses here
    assert [delay for delay, _ in timer.pending] == [0.1]  # one timer, from the first wait

    timer.fire()

    events = log.store.read("run-1", after=0, limit=100)
    assert [(e.data["offset"], e.data["text"]) for e in events] == [(0, "The "), (4, "answer is")]
    assert sink.close() == []


def test_text_is_flushed_by_the_clock_alone(log: RunEvents) -> None:
    sink = log.writer("run-1", EventSlot(slot=4)).text_sink(interval_seconds=0.1)
    sink("The ")
    sink("answer")  # within the interval: waits for it

    wait_until(
        lambda: len(log.store.read("run-1", after=0, limit=100)) == 2,
        timeout=10,
        what="the buffered text written",
    )
    assert "".join(text_of(log.store.read("run-1", after=0, limit=100))) == "The answer"
    assert sink.close() == []


def test_text_repeated_by_a_retried_activity_is_read_once() -> None:
    def text(seq: int, offset: int, value: str) -> StoredEvent:
        return StoredEvent(seq=seq, type=EventType.TEXT, data={"offset": offset, "text": value})

    # The first attempt wrote "Hello wor", the retry cut the same text differently.
    events = [text(10_000, 0, "Hello"), text(10_001, 5, " wor"), text(10_002, 2, "llo world")]
    assert "".join(text_of(events)) == "Hello world"
    # A later activity's text starts afresh.
    events.append(text(20_000, 0, "Bye"))
    assert "".join(text_of(events)) == "Hello worldBye"


def test_a_waiting_reader_is_answered_as_soon_as_an_event_is_written(log: RunEvents) -> None:
    def write_soon() -> None:
        time.sleep(0.3)
        log.writer("run-1", EventSlot(slot=0)).write(phase_event(Phase.STARTING, 0))

    threading.Thread(target=write_soon).start()
    began = time.monotonic()
    events = asyncio.run(log.next_events("run-1", after=0, wait_seconds=20, poll_seconds=30))
    assert kinds(events) == [("phase", "starting")]
    assert time.monotonic() - began < 20  # woken by the write, not by the wait's end


def test_a_reader_in_another_process_sees_events_at_its_next_poll(
    log: RunEvents, store: TableEventStore
) -> None:
    other_process = RunEvents(store)

    def write_soon() -> None:
        time.sleep(0.3)
        log.writer("run-1", EventSlot(slot=0)).write(phase_event(Phase.STARTING, 0))

    threading.Thread(target=write_soon).start()
    events = asyncio.run(
        other_process.next_events("run-1", after=0, wait_seconds=20, poll_seconds=0.1)
    )
    assert kinds(events) == [("phase", "starting")]


def test_a_waiting_reader_gets_nothing_when_the_wait_passes(log: RunEvents) -> None:
    events = asyncio.run(log.next_events("run-1", after=0, wait_seconds=0.2, poll_seconds=0.05))
    assert events == []


# -- the purge ---------------------------------------------------------------------------

NOW = datetime(2026, 5, 1, 3, 0, tzinfo=UTC)
POLICY = PurgePolicy(object_ttl=timedelta(hours=24), history_retention=timedelta(days=7))


class Orchestrations:
    def __init__(self, statuses: dict[str, RuntimeStatus]) -> None:
        self.statuses = statuses

    def status_of(self, instance_id: str) -> RuntimeStatus | None:
        return self.statuses.get(instance_id)

    def purge_history(self, created_before: datetime, statuses: Sequence[RuntimeStatus]) -> int:
        return 0


def never_delete(obj: object) -> str:
    raise AssertionError("no object to delete here")


def purge_events(statuses: dict[str, RuntimeStatus], store: TableEventStore) -> PurgeReport:
    """The purge with only run event logs to look after."""
    return purge_leftovers(
        orchestrations=Orchestrations(statuses),
        deleter=never_delete,  # type: ignore[arg-type]
        ledger=None,
        assistants=None,
        policy=POLICY,
        now=NOW,
        events=store,
    )


def test_the_purge_removes_the_event_logs_of_old_runs_that_are_over(
    azurite: str, table_name: str
) -> None:
    table = TableClient.from_connection_string(azurite, table_name=table_name)
    old = TableEventStore(table, clock=lambda: NOW - timedelta(days=8))
    young = TableEventStore(table, clock=lambda: NOW - timedelta(days=1))
    for store, instance_id in [
        (old, "old-done"),
        (old, "old-gone"),
        (old, "old-running"),
        (young, "young-done"),
    ]:
        writer = RunEvents(store).writer(instance_id, EventSlot(slot=0))
        writer.write(*(text_event(i, "x") for i in range(150)))  # more than one batch
    statuses = {
        "old-done": RuntimeStatus.COMPLETED,
        "old-running": RuntimeStatus.RUNNING,
        "young-done": RuntimeStatus.COMPLETED,
    }

    report = purge_events(statuses, old)

    assert report.event_logs_purged == 2
    left = {i: len(old.read(i, after=0, limit=1000)) for i in statuses.keys() | {"old-gone"}}
    assert left == {"old-done": 0, "old-gone": 0, "old-running": 150, "young-done": 150}
    assert "event_logs_purged=2" in report.summary()
    again = purge_events(statuses, old)
    assert again.event_logs_purged == 0


def test_the_purge_removes_the_event_logs_of_runs_noted_in_the_earlier_layout(
    azurite: str, table_name: str
) -> None:
    """Runs whose row an earlier version wrote in a partition of its own."""
    table = TableClient.from_connection_string(azurite, table_name=table_name)
    store = TableEventStore(table, clock=lambda: NOW - timedelta(days=8))
    for instance_id in ["earlier-done", "earlier-running"]:
        store.write(
            instance_id, [StoredEvent(seq=10_000, type=EventType.TEXT, data={})], first=False
        )
        table.create_entity(
            {
                "PartitionKey": LEGACY_RUNS_PARTITION,
                "RowKey": instance_id,
                "instance_id": instance_id,
                "started_at": NOW - timedelta(days=8),
            }
        )
    statuses = {"earlier-done": RuntimeStatus.COMPLETED, "earlier-running": RuntimeStatus.RUNNING}

    report = purge_events(statuses, store)

    assert report.event_logs_purged == 1
    assert store.read("earlier-done", after=0, limit=10) == []
    assert len(store.read("earlier-running", after=0, limit=10)) == 1
    assert store.runs_started_before(NOW) == ["earlier-running"]


def test_the_memory_store_keeps_the_same_order_and_keys() -> None:
    log = RunEvents(MemoryEventStore())
    log.writer("run-1", EventSlot(slot=1)).write(text_event(0, "b"))
    log.writer("run-1", EventSlot(slot=0)).write(text_event(0, "a"))
    log.writer("run-1", EventSlot(slot=0)).write(text_event(0, "a"))
    assert [e.data["text"] for e in log.store.read("run-1", after=0, limit=10)] == ["a", "b"]
    assert json.dumps([e.to_json() for e in log.store.read("run-1", after=0, limit=10)])
