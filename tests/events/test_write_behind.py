"""An activity's events may be written in the background while its work goes on
(`SlotWriter.write_soon`); the log keeps its order, its exactly-once keys and every
event all the same. The store is a real Table service (Azurite), behind a wrapper
that holds or fails chosen writes."""

from __future__ import annotations

import threading

from durable_assistant.event_log import RunEvents, TableEventStore
from durable_assistant.events import (
    EventSlot,
    phase_event,
    tool_finished,
    tool_started,
)
from durable_assistant.model import Phase, ToolCall, ToolResult
from tests.events.held_store import HeldStore

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
