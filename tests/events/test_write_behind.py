"""An activity's events may be written in the background while its work goes on
(`SlotWriter.write_soon`); the log keeps its order, its exactly-once keys and every
event all the same. The store is a real Table service (Azurite), behind a wrapper
that holds or fails chosen writes."""

from __future__ import annotations

import threading
from collections.abc import Sequence

from durable_assistant.event_log import RunEvents, TableEventStore
from durable_assistant.events import (
    EventSlot,
    StoredEvent,
    finished_again,
    phase_event,
    tool_finished,
    tool_started,
)
from durable_assistant.model import Phase, ToolCall, ToolResult
from tests.events.held_store import HeldStore
from tests.support.waiting import wait_until

CALL = ToolCall(call_id="call_1", name="get_flights", arguments='{"date_1": "2015-04-24"}')
RESULT = ToolResult(call_id="call_1", name="get_flights", output='{"flights": 2172}', ok=True)
SLOT = EventSlot(slot=4, step=1, record=[phase_event(Phase.RUNNING_TOOLS, 1)])


def statuses(store: HeldStore) -> list[str | None]:
    return [e.data.get("phase") or e.data.get("status") for e in store.read("run-1", 0, 100)]


def test_a_write_after_a_background_write_is_stored_after_it(store: TableEventStore) -> None:
    held = HeldStore(store)
    writer = RunEvents(held).writer("run-1", SLOT)

    writer.write_soon(tool_started(CALL, 1))  # held until released
    threading.Timer(0.2, held.release.set).start()
    writer.write(tool_finished(RESULT, 1))  # waits for the one before

    assert held.writes == [["running_tools", "started"], ["finished"]]
    assert statuses(held) == ["running_tools", "started", "finished"]


def test_leaving_the_writer_waits_for_its_background_write(store: TableEventStore) -> None:
    held = HeldStore(store)
    threading.Timer(0.2, held.release.set).start()
    with RunEvents(held).writer("run-1", SLOT) as writer:
        writer.write_soon(tool_started(CALL, 1))

    assert statuses(held) == ["running_tools", "started"]


def test_events_a_background_write_could_not_store_go_with_the_next_write(
    store: TableEventStore,
) -> None:
    held = HeldStore(store, fail_first=True)
    with RunEvents(held).writer("run-1", SLOT) as writer:
        writer.write_soon(tool_started(CALL, 1))  # fails
        writer.write(tool_finished(RESULT, 1))

    assert held.writes == [["running_tools", "started", "finished"]]
    events = held.read("run-1", 0, 100)
    assert [e.seq for e in events] == [50_000, 50_001, 50_002]


def test_a_retried_writer_with_background_writes_adds_no_event(store: TableEventStore) -> None:
    log = RunEvents(store)
    for _attempt in range(3):  # the same slot, as every retry of an activity gets
        with log.writer("run-1", SLOT) as writer:
            writer.write_soon(tool_started(CALL, 1))
            writer.write(tool_finished(RESULT, 1))

    assert [e.seq for e in store.read("run-1", 0, 100)] == [50_000, 50_001, 50_002]


def test_an_activitys_last_write_goes_on_after_the_activity(store: TableEventStore) -> None:
    held = HeldStore(store, held=2)
    with RunEvents(held).writer("run-1", SLOT) as writer:
        writer.write_soon(tool_started(CALL, 1))
        writer.write_last(tool_finished(RESULT, 1))  # held: the activity does not wait

    assert statuses(held) == ["running_tools", "started"]
    held.release.set()
    wait_until(lambda: statuses(held)[-1:] == ["finished"], timeout=10, what="the last write")
    assert [e.seq for e in held.read("run-1", 0, 100)] == [50_000, 50_001, 50_002]


def test_a_finished_event_the_tool_activity_lost_is_written_by_the_next_activity(
    store: TableEventStore,
) -> None:
    failing = FailingStore(store, fail_call=2)  # the tool activity's last write
    log = RunEvents(failing)
    with log.writer("run-1", SLOT) as writer:
        writer.write_soon(tool_started(CALL, 1))
        writer.write_last(tool_finished(RESULT, 1))
    wait_until(lambda: failing.failed, timeout=10, what="the last write failing")
    assert statuses_of(store) == ["running_tools", "started"]

    submit = EventSlot(
        slot=5,
        step=1,
        record=[phase_event(Phase.SUBMITTING, 1)],
        rewrite=[finished_again(SLOT, RESULT)],
    )
    with log.writer("run-1", submit) as writer:
        writer.write_soon()

    assert statuses_of(store) == ["running_tools", "started", "finished", "submitting"]
    assert [e.seq for e in store.read("run-1", 0, 100)] == [50_000, 50_001, 50_002, 60_000]


def test_a_last_write_after_a_failed_one_is_written_before_the_activity_returns(
    store: TableEventStore,
) -> None:
    held = HeldStore(store, fail_first=True)
    with RunEvents(held).writer("run-1", SLOT) as writer:
        writer.write_soon(tool_started(CALL, 1))  # fails
        writer.write_last(tool_finished(RESULT, 1))  # so this one takes it, and waits

    assert held.writes == [["running_tools", "started", "finished"]]


class FailingStore(HeldStore):
    """`inner`, failing its `fail_call`-th write (and holding none)."""

    def __init__(self, inner: TableEventStore, fail_call: int) -> None:
        super().__init__(inner, held=0)
        self.fail_call = fail_call
        self.failed = False
        self._writes = 0

    def write(self, instance_id: str, events: Sequence[StoredEvent], *, first: bool) -> None:
        self._writes += 1
        if self._writes == self.fail_call:
            self.failed = True
            raise ConnectionError("the host went away")
        super().write(instance_id, events, first=first)


def statuses_of(store: TableEventStore) -> list[str | None]:
    return [e.data.get("phase") or e.data.get("status") for e in store.read("run-1", 0, 100)]


def test_writes_queued_for_a_run_while_one_is_on_its_way_go_together(
    store: TableEventStore,
) -> None:
    held = HeldStore(store)
    log = RunEvents(held)
    calls = [ToolCall(call_id=f"call_{i}", name="get_flights", arguments="{}") for i in range(5)]
    writers = [
        log.writer("run-1", EventSlot(slot=4 + i, step=1, call=i, calls=5)) for i in range(5)
    ]
    writers[0].write_soon(tool_started(calls[0], 1))  # held: the others queue behind it
    assert held.holding.wait(10)
    for writer, call in zip(writers[1:], calls[1:], strict=True):
        writer.write_soon(tool_started(call, 1))
    held.release.set()
    for writer in writers:
        writer.settle()

    assert held.writes == [["started"], ["started"] * 4]
    assert [e.data["call_id"] for e in store.read("run-1", 0, 100)] == [c.call_id for c in calls]


def test_a_key_queued_twice_is_written_once(store: TableEventStore) -> None:
    held = HeldStore(store, held=2)
    log = RunEvents(held)
    tool = log.writer("run-1", SLOT)
    tool.write(tool_started(CALL, 1))
    log.writer("run-1", EventSlot(slot=3)).write_soon(phase_event(Phase.RUNNING_TOOLS, 1))  # held
    tool.write_last(tool_finished(RESULT, 1))  # queued while it is held,
    next_activity = EventSlot(slot=5, step=1, rewrite=[finished_again(SLOT, RESULT)])
    log.writer("run-1", next_activity).write_soon()  # with the same row again: one batch
    held.release.set()

    wait_until(lambda: len(store.read("run-1", 0, 100)) == 4, timeout=10, what="every row")
    assert [e.seq for e in store.read("run-1", 0, 100)] == [40_000, 50_000, 50_001, 50_002]
