"""What a reader may take of a run's log while a step's tool calls write into their
slots in the order they finish: nothing a later write could still precede. On a real
Table service (Azurite)."""

from __future__ import annotations

from durable_assistant.event_log import RunEvents
from durable_assistant.events import (
    EventSlot,
    StoredEvent,
    phase_event,
    tool_finished,
    tool_started,
)
from durable_assistant.model import Phase, ToolCall, ToolResult

CALLS = [ToolCall(call_id=f"call_{i}", name="lookup", arguments="{}") for i in range(3)]
RESULTS = [ToolResult(call_id=f"call_{i}", name="lookup", output="{}", ok=True) for i in range(3)]
FIRST_TOOL_SLOT = 3


def tool_slot(index: int) -> EventSlot:
    record = [phase_event(Phase.RUNNING_TOOLS, 1)] if index == 0 else []
    return EventSlot(slot=FIRST_TOOL_SLOT + index, step=1, record=record, call=index, calls=3)


def started(log: RunEvents, index: int) -> None:
    log.writer("run-1", tool_slot(index)).write(tool_started(CALLS[index], 1, index=index, calls=3))


def finished(log: RunEvents, index: int) -> None:
    writer = log.writer("run-1", tool_slot(index))
    writer.write(tool_started(CALLS[index], 1, index=index, calls=3))  # as a retry would
    writer.write(tool_finished(RESULTS[index], 1, index=index, calls=3))


def what(events: list[StoredEvent]) -> list[tuple[int, str]]:
    return [
        (e.seq // 10_000 - 1 - FIRST_TOOL_SLOT, e.data.get("status") or e.data["phase"])
        for e in events
    ]


def test_a_reader_takes_a_later_calls_events_only_once_the_earlier_calls_are_sealed(
    log: RunEvents,
) -> None:
    started(log, 0)
    finished(log, 2)  # the third call is quick: written before the second even started
    assert what(log.read("run-1", 0)) == [(0, "running_tools"), (0, "started")]

    after = log.read("run-1", 0)[-1].seq
    started(log, 1)
    assert log.read("run-1", after) == []  # the first call is still open
    finished(log, 0)
    assert what(log.read("run-1", after)) == [(0, "finished"), (1, "started")]

    after = log.read("run-1", after)[-1].seq
    finished(log, 1)
    assert what(log.read("run-1", after)) == [
        (1, "finished"),
        (2, "started"),
        (2, "finished"),
    ]


def test_an_event_after_the_step_seals_every_call_of_it(log: RunEvents) -> None:
    started(log, 0)
    started(log, 1)
    started(log, 2)
    after = log.read("run-1", 0)[0].seq
    submit = EventSlot(slot=FIRST_TOOL_SLOT + 3, step=1, record=[phase_event(Phase.SUBMITTING, 1)])
    log.writer("run-1", submit).write()

    assert what(log.read("run-1", after)) == [
        (0, "started"),
        (1, "started"),
        (2, "started"),
        (3, "submitting"),
    ]


def test_a_reader_resuming_at_a_calls_finished_event_goes_on_past_it(log: RunEvents) -> None:
    finished(log, 0)
    finished(log, 1)
    started(log, 2)
    at_first_finished = log.read("run-1", 0)[2].seq

    assert what(log.read("run-1", at_first_finished)) == [
        (1, "started"),
        (1, "finished"),
        (2, "started"),
    ]


def test_once_the_run_is_over_every_stored_event_is_readable(log: RunEvents) -> None:
    started(log, 0)
    finished(log, 1)

    assert log.read("run-1", 0) == log.read("run-1", 0, complete=True)[:2]
    assert what(log.read("run-1", 0, complete=True)) == [
        (0, "running_tools"),
        (0, "started"),
        (1, "started"),
        (1, "finished"),
    ]
