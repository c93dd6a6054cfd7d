"""The run's event log, as a model: what a run tells its watchers, and in which order.

A run's events are phase changes, tool calls started and finished, text as the model
writes it, token usage, and the end. They are written by activities only (the
orchestrator must stay deterministic), into Table storage (`event_log`), and read by
`GET /api/runs/{id}/events`.

Order and exactly-once come from the keys, not from a counter in storage: the
orchestrator hands every activity it schedules an `EventSlot` (a number that grows
by one per scheduled activity, carried across `continue_as_new`, so a replay hands
out the same numbers), plus the events the orchestrator itself wants recorded (its
phase changes, the end). The activity numbers its own events inside the slot, so an
event's sequence number is `(slot + 1) * SLOT_SIZE + index`: the same on every retry
of the activity and every replay of the orchestration, and ordered as the run went.
Sequence numbers are increasing, not consecutive.

Bounds: an event's data is at most `MAX_EVENT_CHARS` of JSON (the end's answer is cut
to `MAX_ANSWER_CHARS`), an activity writes at most `SLOT_SIZE` events, and past
`MAX_RUN_SLOTS` scheduled activities only the end is recorded.
"""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Any

from pydantic import Field

from durable_assistant.model import (
    Model,
    Phase,
    RunResult,
    Step,
    ToolCall,
    ToolResult,
    Usage,
)
from durable_assistant.tools.registry import truncate

EVENTS_KEY = "events"
"""The key of an activity payload that carries its `EventSlot` (popped before the
payload is validated as its domain model)."""

SLOT_SIZE = 10_000
"""Sequence numbers one activity may use: the most events it writes."""

MAX_TEXT_EVENTS_PER_SLOT = SLOT_SIZE - 100
"""Text events one activity may write; the rest of the slot is kept for the others."""

MAX_RUN_SLOTS = 5_000
"""Past this many scheduled activities a run records only its end."""

MAX_EVENT_CHARS = 8_000
MAX_ANSWER_CHARS = 24_000
ARGUMENTS_CHARS = 2_000
OUTPUT_CHARS = 1_000
TEXT_CHARS = 4_000


class EventType(StrEnum):
    """An event's type; the `event:` field of Server-Sent Events."""

    PHASE = "phase"
    TOOL_CALL = "tool_call"
    TEXT = "text"
    USAGE = "usage"
    END = "end"


class RunEvent(Model):
    """One event before it has a sequence number."""

    type: EventType
    data: dict[str, Any]


class StoredEvent(Model):
    """One event of the log, as readers see it."""

    seq: int = Field(ge=0)
    type: EventType
    data: dict[str, Any]


class EventSlot(Model):
    """What an activity may record: its slot, the run's step, and the orchestrator's
    own events to write first."""

    slot: int = Field(ge=0)
    step: int = Field(default=0, ge=0)
    record: list[RunEvent] = Field(default_factory=list)


def sequence_number(slot: int, index: int) -> int:
    """The sequence number of an activity's `index`-th event in `slot`."""
    if not 0 <= index < SLOT_SIZE:
        raise ValueError(f"an activity writes at most {SLOT_SIZE} events")
    return (slot + 1) * SLOT_SIZE + index


def take_slot(payload: dict[str, Any]) -> EventSlot | None:
    """Remove the event slot from an activity payload; None when there is none (an
    activity scheduled before the log existed, or past `MAX_RUN_SLOTS`)."""
    raw = payload.pop(EVENTS_KEY, None)
    return None if raw is None else EventSlot.from_json(raw)


def with_slot(payload: dict[str, Any], slot: EventSlot | None) -> dict[str, Any]:
    """An activity payload carrying `slot` (the orchestrator's side of `take_slot`)."""
    return payload if slot is None else {**payload, EVENTS_KEY: slot.to_json()}


def _bounded(event_type: EventType, data: dict[str, Any]) -> RunEvent:
    size = len(json.dumps(data, ensure_ascii=False))
    limit = MAX_ANSWER_CHARS + MAX_EVENT_CHARS if event_type is EventType.END else MAX_EVENT_CHARS
    if size > limit:
        raise ValueError(f"a {event_type.value} event is {size} characters (at most {limit})")
    return RunEvent(type=event_type, data=data)


def phase_event(phase: Phase, step: int) -> RunEvent:
    """The run moved to `phase` (in tool-running phases, `step` is the round)."""
    return _bounded(EventType.PHASE, {"phase": phase.value, "step": step})


def tool_started(call: ToolCall, step: int) -> RunEvent:
    """A tool call began: its name and (cut) arguments."""
    return _bounded(
        EventType.TOOL_CALL,
        {
            "status": "started",
            "step": step,
            "call_id": call.call_id[:200],
            "name": call.name[:200],
            "arguments": truncate(call.arguments, ARGUMENTS_CHARS),
        },
    )


def tool_finished(result: ToolResult, step: int) -> RunEvent:
    """A tool call ended: ok or not, its (cut) output and how long it took."""
    return _bounded(
        EventType.TOOL_CALL,
        {
            "status": "finished",
            "step": step,
            "call_id": result.call_id[:200],
            "name": result.name[:200],
            "ok": result.ok,
            "output": truncate(result.output, OUTPUT_CHARS),
            "duration_ms": result.duration_ms,
        },
    )


def text_event(offset: int, text: str) -> RunEvent:
    """Text the model wrote in this activity's turn, starting at character `offset`.

    A retried activity may write the same text again under the same sequence numbers,
    cut differently: a reader places text at its offset, so repeats change nothing.
    """
    return _bounded(EventType.TEXT, {"offset": offset, "text": text[:TEXT_CHARS]})


def usage_event(usage: Usage) -> RunEvent:
    """Tokens one model call reported (the end event has the run's total)."""
    return _bounded(EventType.USAGE, usage.to_json())


def step_events(step: Step) -> list[RunEvent]:
    """What a model call's result adds to the log: the usage it reported, if any."""
    return [] if step.state.usage is None else [usage_event(step.state.usage)]


def end_event(result: RunResult) -> RunEvent:
    """The run's end: outcome, answer (cut to `MAX_ANSWER_CHARS`), reason and totals."""
    answer = result.answer
    cut = answer is not None and len(answer) > MAX_ANSWER_CHARS
    return _bounded(
        EventType.END,
        {
            "outcome": result.outcome.value,
            "answer": answer[:MAX_ANSWER_CHARS] if answer is not None else None,
            "answer_truncated": cut,
            "reason": result.reason,
            "steps": result.steps,
            "tool_calls": len(result.tool_calls),
            "usage": result.usage.to_json(),
        },
    )


class EventCursor(Model):
    """The orchestrator's side of the log: the next slot, the last phase recorded and
    events waiting for the next activity. Part of the loop state, so it survives
    `continue_as_new` and replays the same way."""

    next_slot: int = Field(default=0, ge=0)
    phase: Phase | None = None
    pending: list[RunEvent] = Field(default_factory=list)

    def with_phase(self, phase: Phase, step: int) -> EventCursor:
        """Record a phase change (a repeat of the last phase, or `done`, records nothing:
        the end event says a run is done)."""
        if phase is self.phase or phase is Phase.DONE:
            return self
        return self.model_copy(
            update={"phase": phase, "pending": [*self.pending, phase_event(phase, step)]}
        )

    def with_event(self, event: RunEvent) -> EventCursor:
        """Have the next activity record `event`."""
        return self.model_copy(update={"pending": [*self.pending, event]})

    def take(self, step: int, *, always: bool = False) -> tuple[EventSlot | None, EventCursor]:
        """The slot for the activity about to be scheduled, and the cursor after it.

        Past `MAX_RUN_SLOTS` only an activity scheduled with `always` (the one that
        records the end) gets a slot; the other events are dropped.
        """
        following = self.model_copy(update={"next_slot": self.next_slot + 1, "pending": []})
        if self.next_slot >= MAX_RUN_SLOTS and not always:
            return None, following
        slot = EventSlot(slot=self.next_slot, step=step, record=self.pending)
        return slot, following
