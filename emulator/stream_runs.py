"""Assistants runs with `stream: true`: one model turn as server-sent events.

Run creation (`runs.create`, `threads.create_and_run`) and `submit_tool_outputs`
answer with the turn's events instead of the run: `thread.run.created` (creation
only), `thread.run.queued`, `thread.run.in_progress`, the turn's step and message
events, then the state it rests in (`thread.run.requires_action`, `.completed`,
`.failed`, `.cancelled`, `.expired`, `.incomplete`) and `done`.

A scripted turn is decided when it begins, so its answer's text deltas (or its
tool calls) are spread over the turn's model time and the first arrives before
the turn ends. The step and message keep the ids their events announced.

A client that stops reading does not stop the run: the run is a server-side
object that goes on and can still be polled or cancelled (stopping it takes
`runs.cancel`), so nothing happens on disconnect.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from emulator import runs
from emulator.routing import Ctx, Reply
from emulator.state import EmulatorState, RunRecord, ThreadRecord, new_id
from emulator.streaming import (
    DONE,
    DROP,
    TICK_SECONDS,
    Event,
    SseResponse,
    sleep_until,
    spread,
    text_pieces,
)

Json = dict[str, Any]

_ENDED = {
    "requires_action": "thread.run.requires_action",
    "completed": "thread.run.completed",
    "failed": "thread.run.failed",
    "cancelled": "thread.run.cancelled",
    "expired": "thread.run.expired",
    "incomplete": "thread.run.incomplete",
}
_STEP_ENDED = {"cancelled": "cancelled", "expired": "expired", "failed": "failed"}


def stream_reply(ctx: Ctx, thread: ThreadRecord, run: RunRecord, *, created: bool) -> Reply:
    """The answer to a run request made with `stream: true`."""
    first: list[Event] = []
    if created:
        if ctx.params.get("thread_id") is None:  # threads.create_and_run
            first.append(("thread.created", thread.wire))
        first.append(("thread.run.created", dict(run.wire)))
    source = _turn_events(ctx.state, thread, run, first, drop=ctx.drop_midway)
    return Reply({}, stream=SseResponse(source))


class _Turn:
    """A scripted turn decided early: what it will say, and the ids it announces."""

    def __init__(self, run: RunRecord) -> None:
        decision = run.episode.decide(run.offered, parallel=run.parallel)
        run.planned = decision
        self.decision = decision
        self.step_id = new_id("step")
        self.message_id = new_id("msg") if decision.is_answer else None
        self.steps_before = len(run.steps)


def _plan(state: EmulatorState, run: RunRecord) -> _Turn | None:
    """Decide the turn now when the script plays it (not a proxy, not a forced end)."""
    if state.proxy is not None or run.outcome is not None or run.planned is not None:
        return None
    if run.wire["status"] != "in_progress":
        return None
    return _Turn(run)


async def _turn_events(
    state: EmulatorState, thread: ThreadRecord, run: RunRecord, first: list[Event], *, drop: bool
) -> AsyncIterator[Event]:
    for event in first:
        yield event
    wire = run.wire
    yield ("thread.run.queued", dict(wire, status="queued"))
    now = state.clock()
    if wire["status"] == "queued" and now < run.deadline:  # the model picks the turn up
        wire.update(status="in_progress", started_at=wire["started_at"] or int(now))
    if wire["status"] == "in_progress":
        yield ("thread.run.in_progress", dict(wire))
    turn = _plan(state, run)
    started = state.clock()
    if turn is not None:
        async for event in _early_events(state, run, turn, started, drop=drop):
            yield event
    elif drop:
        yield DROP
    announced_cancel = False
    while True:
        if wire["status"] == "cancelling" and not announced_cancel:
            announced_cancel = True
            yield ("thread.run.cancelling", dict(wire))
        runs.advance(state, thread, run)
        status = wire["status"]
        if status not in ("queued", "in_progress", "cancelling"):
            break
        await sleep_until(state.clock, max(run.ready_at, state.clock() + TICK_SECONDS))
    for event in _final_events(thread, run, turn):
        yield event
    yield (DONE, "[DONE]")


async def _early_events(
    state: EmulatorState, run: RunRecord, turn: _Turn, started: float, *, drop: bool
) -> AsyncIterator[Event]:
    """The step (and message) the turn opens, and its deltas, spread until it is ready."""
    wire = run.wire
    decision = turn.decision
    if decision.is_answer:
        assert turn.message_id is not None
        details: Json = {
            "type": "message_creation",
            "message_creation": {"message_id": turn.message_id},
        }
        pieces = text_pieces(decision.text)
        deltas = [
            {
                "id": turn.message_id,
                "object": "thread.message.delta",
                "delta": {
                    "content": [
                        {"index": 0, "type": "text", "text": {"value": p, "annotations": []}}
                    ]
                },
            }
            for p in pieces
        ]
        kind = "thread.message.delta"
    else:
        details = {"type": "tool_calls", "tool_calls": []}
        deltas = [
            {
                "id": turn.step_id,
                "object": "thread.run.step.delta",
                "delta": {
                    "step_details": {
                        "type": "tool_calls",
                        "tool_calls": [
                            {
                                "index": index,
                                "id": call.call_id,
                                "type": "function",
                                "function": {
                                    "name": call.name,
                                    "arguments": call.arguments,
                                    "output": None,
                                },
                            }
                        ],
                    }
                },
            }
            for index, call in enumerate(decision.calls)
        ]
        kind = "thread.run.step.delta"
    times = spread(started, run.ready_at, len(deltas))
    opened = False
    for number, (at, delta) in enumerate(zip(times, deltas, strict=True)):
        while state.clock() < at and wire["status"] == "in_progress":
            await sleep_until(state.clock, at)
        if wire["status"] != "in_progress":
            return  # cancelled or expired meanwhile: the final events say so
        if not opened:
            opened = True
            step = _step(wire, turn.step_id, details, int(started))
            yield ("thread.run.step.created", step)
            yield ("thread.run.step.in_progress", step)
            if turn.message_id is not None:
                message = _message(wire, turn.message_id, int(started))
                yield ("thread.message.created", message)
                yield ("thread.message.in_progress", message)
        if drop and number >= len(deltas) // 2:
            yield DROP
        yield (kind, delta)


def _final_events(thread: ThreadRecord, run: RunRecord, turn: _Turn | None) -> list[Event]:
    """The events of where the run came to rest, ending with the run's own."""
    wire = run.wire
    status = wire["status"]
    events: list[Event] = []
    step = _adopt_ids(thread, run, turn) if turn is not None else None
    if step is None and status == "completed" and run.steps:
        step = run.steps[-1] if run.steps[-1]["type"] == "message_creation" else None
        if step is not None:  # not decided early (a proxy model): announce it now
            message = thread.messages.get(step["step_details"]["message_creation"]["message_id"])
            if message is not None:
                events += [
                    ("thread.run.step.created", dict(step, status="in_progress")),
                    ("thread.message.created", dict(message, status="in_progress", content=[])),
                    ("thread.message.delta", _whole_text_delta(message)),
                ]
    if step is not None:
        if step["type"] == "message_creation" and status == "completed":
            message_id = step["step_details"]["message_creation"]["message_id"]
            if message_id in thread.messages:
                events.append(("thread.message.completed", thread.messages[message_id]))
        if step["status"] == "completed":
            events.append(("thread.run.step.completed", step))
        elif step["status"] in _STEP_ENDED:
            events.append((f"thread.run.step.{step['status']}", step))
    name = _ENDED.get(status)
    if name is not None:
        events.append((name, dict(wire)))
    return events


def _adopt_ids(thread: ThreadRecord, run: RunRecord, turn: _Turn) -> Json | None:
    """Give the step (and message) the turn made the ids its events announced."""
    if len(run.steps) <= turn.steps_before:
        return None  # ended before the model's turn (cancelled, expired)
    step = run.steps[-1]
    step["id"] = turn.step_id
    if turn.message_id is not None and step["type"] == "message_creation":
        creation = step["step_details"]["message_creation"]
        message = thread.messages.pop(creation["message_id"], None)
        if message is not None:
            message["id"] = turn.message_id
            thread.messages[turn.message_id] = message
        creation["message_id"] = turn.message_id
    return step


def _step(wire: Json, step_id: str, details: Json, created: int) -> Json:
    return {
        "id": step_id,
        "object": "thread.run.step",
        "created_at": created,
        "assistant_id": wire["assistant_id"],
        "thread_id": wire["thread_id"],
        "run_id": wire["id"],
        "type": details["type"],
        "status": "in_progress",
        "step_details": details,
        "cancelled_at": None,
        "completed_at": None,
        "expired_at": None,
        "failed_at": None,
        "last_error": None,
        "metadata": {},
        "usage": None,
    }


def _message(wire: Json, message_id: str, created: int) -> Json:
    return {
        "id": message_id,
        "object": "thread.message",
        "created_at": created,
        "thread_id": wire["thread_id"],
        "role": "assistant",
        "content": [],
        "assistant_id": wire["assistant_id"],
        "run_id": wire["id"],
        "attachments": [],
        "metadata": {},
        "status": "in_progress",
        "completed_at": None,
        "incomplete_at": None,
        "incomplete_details": None,
    }


def _whole_text_delta(message: Json) -> Json:
    text = "".join(p["text"]["value"] for p in message["content"] if p.get("type") == "text")
    content = [{"index": 0, "type": "text", "text": {"value": text, "annotations": []}}]
    return {"id": message["id"], "object": "thread.message.delta", "delta": {"content": content}}
