"""Responses with `stream: true`, and `GET /responses/{id}?stream=true&starting_after=N`.

A streamed response keeps a timeline: the events it has emitted, each with its
`sequence_number` (from 0), and the events still due. `response.created` and
`response.in_progress` come first; a scripted turn is decided when it begins, so
its output items (`response.output_item.added`, `response.content_part.added`,
`response.output_text.delta` ... `.done`, or `response.function_call_arguments.delta`
/ `.done`, then `response.output_item.done`) are spread over the model time and
the first text delta arrives before the turn ends; the end is
`response.completed`, `response.failed` or `response.incomplete` (a cancelled
response's stream just ends). Every reader tails the same timeline, so a
background response can be read again from any sequence number.

Disconnects, as the service treats them: closing the stream of a foreground
response stops its generation (it ends `cancelled`); a background response goes
on, and can be resumed with `starting_after`. A foreground response cannot be
streamed again.
"""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from emulator import responses_api
from emulator.content_filter import FILTERED_REASON, answer_flag
from emulator.errors import ApiError
from emulator.history import replay
from emulator.items import output_items
from emulator.routing import Ctx, Reply
from emulator.state import EmulatorState, ResponseRecord
from emulator.streaming import DROP, TICK_SECONDS, Event, SseResponse, sleep_until, spread
from emulator.streaming import text_pieces as pieces_of

Json = dict[str, Any]

_TERMINAL_EVENT = {
    "completed": "response.completed",
    "failed": "response.failed",
    "incomplete": "response.incomplete",
}


@dataclass
class Timeline:
    """A response's stream: what was emitted (index = sequence number), what is due."""

    events: list[Json] = field(default_factory=list)
    due: list[tuple[float, Json]] = field(default_factory=list)
    ended: bool = False

    def emit(self, event: Json) -> None:
        self.events.append({**event, "sequence_number": len(self.events)})


def stream_reply(ctx: Ctx, record: ResponseRecord) -> Reply:
    """The answer to `responses.create(stream=True)`: the whole timeline, from the start."""
    timeline = _timeline(ctx.state, record)
    source = _tail(ctx.state, record, timeline, -1, drop=ctx.drop_midway)
    wire = record.wire
    on_disconnect = None if wire["background"] else (lambda: _stop_generation(record))
    return Reply({}, stream=SseResponse(source, on_disconnect=on_disconnect))


def resume_reply(ctx: Ctx, record: ResponseRecord) -> Reply:
    """The answer to `GET /responses/{id}?stream=true`: the events after `starting_after`."""
    wire = record.wire
    if not wire["background"]:
        raise ApiError(
            400,
            "This response was not created with background=true, so it cannot be streamed again.",
            param="stream",
        )
    after = ctx.query_int("starting_after", -1, -1, 10**9)
    timeline = _timeline(ctx.state, record)
    source = _tail(ctx.state, record, timeline, after, drop=ctx.drop_midway)
    return Reply({}, stream=SseResponse(source))


def _timeline(state: EmulatorState, record: ResponseRecord) -> Timeline:
    """The record's timeline, begun (and its turn decided) on first use."""
    if isinstance(record.timeline, Timeline):
        return record.timeline
    timeline = Timeline()
    record.timeline = timeline
    wire = record.wire
    timeline.emit({"type": "response.created", "response": _snapshot(wire)})
    if wire["status"] == "queued":
        wire["status"] = "in_progress"  # the model picks it up at once
    if wire["status"] == "in_progress":
        timeline.emit({"type": "response.in_progress", "response": _snapshot(wire)})
        _plan(state, record, timeline)
    return timeline


def _plan(state: EmulatorState, record: ResponseRecord, timeline: Timeline) -> None:
    """Decide a scripted turn now, and schedule its item events over its model time."""
    if state.proxy is not None or record.outcome is not None:
        return
    wire = record.wire
    episode = record.episode or replay(state, record.history, None)
    offered = {t["name"] for t in wire["tools"] if t.get("type") == "function"}
    if wire["tool_choice"] == "none":
        offered = set()
    decision = episode.decide(offered, parallel=bool(wire["parallel_tool_calls"]))
    episode.pending = {}
    if decision.is_answer and answer_flag(state.filter_rules(), decision.text, decision.filtered):
        record.outcome = FILTERED_REASON  # no output: it ends incomplete (content_filter)
        return
    record.planned = output_items(decision)
    events = _item_events(record.planned)
    started = state.clock()
    times = spread(started, record.ready_at, len(events))
    timeline.due = list(zip(times, events, strict=True))


def _item_events(items: list[Json]) -> list[Json]:
    """The events that build `items`, in order (without sequence numbers)."""
    events: list[Json] = []
    for index, item in enumerate(items):
        item_id = item["id"]
        if item["type"] == "message":
            text = "".join(p.get("text", "") for p in item["content"])
            part = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
            done_part = {**part, "text": text}
            where = {"item_id": item_id, "output_index": index, "content_index": 0}
            events += [
                _added(index, {**item, "status": "in_progress", "content": []}),
                {"type": "response.content_part.added", **where, "part": part},
                *(
                    {"type": "response.output_text.delta", **where, "delta": p, "logprobs": []}
                    for p in pieces_of(text)
                ),
                {"type": "response.output_text.done", **where, "text": text, "logprobs": []},
                {"type": "response.content_part.done", **where, "part": done_part},
            ]
        else:
            events += [
                _added(index, {**item, "status": "in_progress", "arguments": ""}),
                {
                    "type": "response.function_call_arguments.delta",
                    "item_id": item_id,
                    "output_index": index,
                    "delta": item["arguments"],
                },
                {
                    "type": "response.function_call_arguments.done",
                    "item_id": item_id,
                    "output_index": index,
                    "name": item["name"],
                    "arguments": item["arguments"],
                },
            ]
        events.append({"type": "response.output_item.done", "output_index": index, "item": item})
    return events


def _added(index: int, item: Json) -> Json:
    return {"type": "response.output_item.added", "output_index": index, "item": item}


def _snapshot(wire: Json) -> Json:
    return copy.deepcopy(wire)


def catch_up(state: EmulatorState, record: ResponseRecord, timeline: Timeline) -> None:
    """Bring the response and its timeline up to the clock."""
    if timeline.ended:
        return
    wire = record.wire
    responses_api.advance(state, record, streamed=True)
    now = state.clock()
    status = wire["status"]
    if status == "cancelled":
        timeline.due = []
        timeline.ended = True
        return
    final = _TERMINAL_EVENT.get(status)
    while timeline.due and (final is not None or timeline.due[0][0] <= now):
        timeline.emit(timeline.due.pop(0)[1])
    if final is None:
        return
    if status == "completed" and record.planned is None:  # not decided early: all at once
        for event in _item_events(wire["output"]):
            timeline.emit(event)
    timeline.emit({"type": final, "response": _snapshot(wire)})
    timeline.ended = True


async def _tail(
    state: EmulatorState, record: ResponseRecord, timeline: Timeline, after: int, *, drop: bool
) -> AsyncIterator[Event]:
    """Every event after sequence number `after`, as it becomes due, until the end."""
    cursor = after + 1
    drop_at = len(timeline.events) + len(timeline.due) // 2 if drop else None
    while True:
        catch_up(state, record, timeline)
        while cursor < len(timeline.events):
            if drop_at is not None and cursor >= drop_at:
                yield DROP
            event = timeline.events[cursor]
            cursor += 1
            yield (event["type"], event)
        if timeline.ended:
            return
        next_due = timeline.due[0][0] if timeline.due else record.ready_at
        await sleep_until(state.clock, max(next_due, state.clock() + TICK_SECONDS / 4))


def _stop_generation(record: ResponseRecord) -> None:
    """A foreground response whose reader went away stops where it is."""
    if record.wire["status"] in responses_api.PENDING:
        record.wire["status"] = "cancelled"
        timeline = record.timeline
        if isinstance(timeline, Timeline):
            timeline.due = []
            timeline.ended = True
