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

Activities run one after another, except the tool calls of one step, which run at
once, each in its own slot: their events may be written out of slot order. So a
reader takes events only as far as they can no longer be preceded by one written
later (`readable`): a tool call's slot is sealed by its `finished` event, or by any
event of an activity after the step (the one after a step also writes every call's
`finished` event again, in the same batch as its own). Tool call events say where
their slot lies among the step's (`index`, `calls`), so a reader knows the step's
slots even before each has an event.

A model call is told where the tool calls it may ask for will go (`StepAhead`: the
orchestrator schedules them next, in the slots that follow), so when it ends
needing tools it writes their first events itself — the phase change, each call's
`started` — in its own last batch (`announced_events`); the orchestrator then tells
each tool call its first events are written (`EventSlot.written`), or, when the run
ends before running them, has the next activity write a `finished` event saying
so for each (`run_loop.LoopState.tools_not_run`).

Bounds: an event's data is at most `MAX_EVENT_CHARS` of JSON (the end's answer is cut
to `MAX_ANSWER_CHARS`), an activity writes at most `SLOT_SIZE` events, and past
`MAX_RUN_SLOTS` scheduled activities only the end is recorded.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
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


class StepAhead(Model):
    """Where a model call's tool calls go if it ends needing tools: the slot of the
    step's first call (the others follow it), the step, and the orchestrator's events
    the first call's slot records (its phase change). The orchestrator schedules the
    step's calls there at once (see `announced_events`)."""

    slot: int = Field(ge=0)
    step: int = Field(ge=0)
    record: list[RunEvent] = Field(default_factory=list)


class EventSlot(Model):
    """What an activity may record: its slot, the run's step, and the orchestrator's
    own events to write first; for a tool call, its place among the step's calls
    (`calls` = 0: not a tool call)."""

    slot: int = Field(ge=0)
    step: int = Field(default=0, ge=0)
    record: list[RunEvent] = Field(default_factory=list)
    call: int = Field(default=0, ge=0)
    calls: int = Field(default=0, ge=0)
    rewrite: list[StoredEvent] = Field(default_factory=list)
    """Earlier activities' last events, to write again first (see `finished_again`)."""
    ahead: StepAhead | None = None
    """For a model call: where the tool calls it may ask for go."""
    written: int = Field(default=0, ge=0)
    """Events at the head of the slot already written by another activity: for a tool
    call, its `record` and its `started` event, which the model call that asked for
    it wrote (`announced_events`)."""


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


def _place(index: int, calls: int) -> dict[str, int]:
    """Where a tool call is among its step's (none for a call recorded without)."""
    return {"index": index, "calls": calls} if calls > 0 else {}


def tool_started(call: ToolCall, step: int, *, index: int = 0, calls: int = 0) -> RunEvent:
    """A tool call began: its name and (cut) arguments; `index` of the step's `calls`."""
    return _bounded(
        EventType.TOOL_CALL,
        {
            "status": "started",
            "step": step,
            **_place(index, calls),
            "call_id": call.call_id[:200],
            "name": call.name[:200],
            "arguments": truncate(call.arguments, ARGUMENTS_CHARS),
        },
    )


def tool_finished(result: ToolResult, step: int, *, index: int = 0, calls: int = 0) -> RunEvent:
    """A tool call ended: ok or not, its (cut) output and how long it took."""
    return _bounded(
        EventType.TOOL_CALL,
        {
            "status": "finished",
            "step": step,
            **_place(index, calls),
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


def finished_again(slot: EventSlot, result: ToolResult) -> StoredEvent:
    """The `finished` event the tool call activity of `slot` writes (after the
    orchestrator's events and its `started`), numbered as it numbers it.

    A tool call activity hands its `finished` write to the background and returns
    without waiting for it; the next activity of the run writes the same event again,
    under the same key, with its own first events (one batch), so a host that died
    in between loses nothing, and the step's slots are sealed once that batch is in.
    """
    event = tool_finished(result, slot.step, **_place(slot.call, slot.calls))
    seq = sequence_number(slot.slot, len(slot.record) + 1)
    return StoredEvent(seq=seq, type=event.type, data=event.data)


def announced_events(ahead: StepAhead, calls: Sequence[ToolCall]) -> list[StoredEvent]:
    """The events the step's tool call activities would write first — the first's
    `record`, then each call's `started` — numbered in the slots they will be
    scheduled in, for the model call that saw the step to write with its own last
    events (one request instead of one per call). Slots past `MAX_RUN_SLOTS` get none.
    """
    stored: list[StoredEvent] = []
    for index, call in enumerate(calls):
        slot = ahead.slot + index
        if slot >= MAX_RUN_SLOTS:
            break
        started = tool_started(call, ahead.step, index=index, calls=len(calls))
        head = [*(ahead.record if index == 0 else []), started]
        stored += [
            StoredEvent(seq=sequence_number(slot, i), type=e.type, data=e.data)
            for i, e in enumerate(head)
        ]
    return stored


def slot_of(seq: int) -> int:
    """The slot of sequence number `seq` (-1 below the first slot)."""
    return seq // SLOT_SIZE - 1


def _step_slots(event: StoredEvent) -> range | None:
    """The slots of the tool calls of `event`'s step, when it is a call's event that
    says so."""
    if event.type is not EventType.TOOL_CALL:
        return None
    index, calls = event.data.get("index"), event.data.get("calls")
    if not isinstance(index, int) or not isinstance(calls, int) or not 0 <= index < calls:
        return None
    first = slot_of(event.seq) - index
    return range(first, first + calls)


def _is_finished_call(event: StoredEvent) -> bool:
    return event.type is EventType.TOOL_CALL and event.data.get("status") == "finished"


def readable(events: Sequence[StoredEvent], after: int) -> list[StoredEvent]:
    """The events after `after` a reader may take now, in order: those no event
    written later can precede. `events` is a read from `after` itself on (the event
    at `after`, when there is one, tells whether that slot is sealed).

    A reader at `after` has taken every event up to it, and past its slot only
    sealed ones; an event in slot j is readable when no tool call slot from the
    reader's slot up to j is still open (no `finished` yet, and no event beyond the
    step's slots).
    """
    if not events:
        return []
    last_slot = slot_of(events[-1].seq)
    sealed = {slot_of(e.seq) for e in events if _is_finished_call(e)}
    open_slots = {
        slot
        for e in events
        if (slots := _step_slots(e)) is not None and last_slot < slots.stop
        for slot in slots
        if slot >= slot_of(after) and slot not in sealed
    }
    until = min(open_slots, default=last_slot)
    return [e for e in events if e.seq > after and slot_of(e.seq) <= until]


class EventCursor(Model):
    """The orchestrator's side of the log: the next slot, the last phase recorded and
    events waiting for the next activity. Part of the loop state, so it survives
    `continue_as_new` and replays the same way."""

    next_slot: int = Field(default=0, ge=0)
    phase: Phase | None = None
    pending: list[RunEvent] = Field(default_factory=list)
    owed: list[StoredEvent] = Field(default_factory=list)

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

    def owing(self, events: Sequence[StoredEvent]) -> EventCursor:
        """Have the next activity write `events` again (already numbered)."""
        return self.model_copy(update={"owed": [*self.owed, *events]})

    def ahead(self, step: int) -> StepAhead:
        """Where the tool calls of step `step` go when they are the next activities
        scheduled (the first takes the phase change to running tools)."""
        record = self.with_phase(Phase.RUNNING_TOOLS, step).pending
        return StepAhead(slot=self.next_slot, step=step, record=record)

    def take(
        self, step: int, *, always: bool = False, call: int = 0, calls: int = 0
    ) -> tuple[EventSlot | None, EventCursor]:
        """The slot for the activity about to be scheduled (for a tool call, the
        `call`-th of the step's `calls`), and the cursor after it.

        Past `MAX_RUN_SLOTS` only an activity scheduled with `always` (the one that
        records the end) gets a slot; the other events are dropped.
        """
        following = self.model_copy(
            update={"next_slot": self.next_slot + 1, "pending": [], "owed": []}
        )
        if self.next_slot >= MAX_RUN_SLOTS and not always:
            return None, following
        slot = EventSlot(
            slot=self.next_slot,
            step=step,
            record=self.pending,
            call=call,
            calls=calls,
            rewrite=self.owed,
        )
        return slot, following
