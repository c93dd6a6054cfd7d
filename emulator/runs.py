"""Assistants v2 runs: the life cycle and the run endpoints.

A run moves queued -> in_progress -> requires_action | completed | failed |
expired | cancelled | incomplete. It is advanced lazily, whenever it is read,
from the clock and the latency control: with no latency a run is `queued` in
the answer to its creation and reaches its next resting state on the first
read. Nothing happens in the background (except a proxy model's request),
so tests see exact behaviour.
"""

from __future__ import annotations

import asyncio
import math
from typing import Any

from emulator import stream_runs
from emulator.content_filter import (
    FILTERED_REASON,
    FilterRule,
    answer_flag,
    flagged,
    input_texts,
)
from emulator.errors import bad_request, not_found
from emulator.model import Decision, Episode, count_tokens
from emulator.pagination import paginate
from emulator.proxy import proxy_failure
from emulator.routing import Ctx, Reply, Route, require_object
from emulator.state import EmulatorState, RunRecord, ThreadRecord, new_id
from emulator.steps import close_steps, message_step, record_outputs, tool_calls_step
from emulator.structured import chat_format, mismatch_message
from emulator.wire import (
    assistant_tools,
    bounded_number,
    function_names,
    message_content,
    message_text,
    metadata,
    sampling,
    text_block,
)

Json = dict[str, Any]

ACTIVE = ("queued", "in_progress", "requires_action", "cancelling")
MIN_RUN_TOKENS = 256
"""The spec's minimum of a run's `max_prompt_tokens` and `max_completion_tokens`."""
SCRIPT_KEY = "emulator_script"


# -- life cycle --


def advance(state: EmulatorState, thread: ThreadRecord, run: RunRecord) -> None:
    """Bring a run up to date with the clock: start it, play a model turn, expire it."""
    now = state.clock()
    wire = run.wire
    while True:
        status = wire["status"]
        if status in ("queued", "in_progress", "requires_action") and now >= run.deadline:
            _end(run, "expired", now)
            return
        if status == "queued":
            wire["status"] = "in_progress"
            wire["started_at"] = wire["started_at"] or int(now)
            continue
        if status == "in_progress" and now >= run.ready_at:
            if _step(state, thread, run, now):
                continue
            return
        if status == "cancelling" and run.cancel_at is not None and now >= run.cancel_at:
            _end(run, "cancelled", now)
        return


def advance_thread(state: EmulatorState, thread: ThreadRecord) -> RunRecord | None:
    """Advance every run of a thread; return the active one, if any."""
    active = None
    for run in thread.runs.values():
        if run.wire["status"] in ACTIVE:
            advance(state, thread, run)
        if run.wire["status"] in ACTIVE:
            active = run
    return active


def _step(state: EmulatorState, thread: ThreadRecord, run: RunRecord, now: float) -> bool:
    """The model's turn: a forced ending, tool calls, or the answer.

    False while an upstream (proxy) model is still thinking: the run stays in progress.
    """
    wire = run.wire
    rules = state.filter_rules()
    if _ended_before_the_model(rules, thread, run, now):
        return True
    if state.proxy is None:
        decision = run.planned or run.episode.decide(run.offered, parallel=run.parallel)
        run.planned = None
    else:
        asked = _proxy_decision(state, thread, run)
        if asked is None:
            return False
        if isinstance(asked, BaseException):
            wire["last_error"] = {"code": "server_error", "message": proxy_failure(asked)}
            _end(run, "failed", now)
            return True
        decision = asked
        run.episode.pending = {call.call_id: call for call in decision.calls}
    _add_usage(wire, _prompt_tokens(thread, run), _completion_tokens(decision))
    limit = wire.get("max_completion_tokens")
    if limit is not None and wire["usage"]["completion_tokens"] > limit:
        _end(run, "incomplete", now)
        wire["incomplete_details"] = {"reason": "max_completion_tokens"}
        return True
    if decision.is_answer:
        filtered = answer_flag(rules, decision.text, decision.filtered)
        problem = _format_problem(run, decision) if filtered is None else None
        if problem is not None:
            wire["last_error"] = {"code": "server_error", "message": problem}
            _end(run, "failed", now)
        else:
            _answer(thread, run, decision, filtered, now)
        return True
    tool_calls_step(run, decision.calls, now)
    wire["status"] = "requires_action"
    wire["required_action"] = {
        "type": "submit_tool_outputs",
        "submit_tool_outputs": {
            "tool_calls": [
                {
                    "id": call.call_id,
                    "type": "function",
                    "function": {"name": call.name, "arguments": call.arguments},
                }
                for call in decision.calls
            ]
        },
    }
    return True


def _proxy_decision(
    state: EmulatorState, thread: ThreadRecord, run: RunRecord
) -> Decision | BaseException | None:
    """Ask the upstream model once; its decision (or failure) when it came, else None."""
    assert state.proxy is not None
    task = run.model_task
    if task is None:
        tools = [t for t in run.wire["tools"] if t["type"] == "function"] if run.offered else []
        asking = state.proxy.decide(
            run_items(thread, run),
            instructions=run.wire["instructions"],
            tools=tools,
            parallel=run.parallel,
            model=str(run.wire["model"]),
        )
        run.model_task = asyncio.get_running_loop().create_task(asking)
        return None
    if not task.done():
        return None
    run.model_task = None
    return task.exception() or task.result()


def run_items(thread: ThreadRecord, run: RunRecord) -> list[Json]:
    """The thread's messages and this run's answered calls, as Responses-style items."""
    items: list[Json] = [
        {
            "type": "message",
            "role": message["role"],
            "content": [{"type": "input_text", "text": message_text(message)}],
        }
        for message in thread.messages.values()
    ]
    for step in run.steps:
        if step["type"] != "tool_calls" or step["status"] != "completed":
            continue
        calls = step["step_details"]["tool_calls"]
        items += [
            {
                "type": "function_call",
                "call_id": c["id"],
                "name": c["function"]["name"],
                "arguments": c["function"]["arguments"],
            }
            for c in calls
        ]
        items += [
            {"type": "function_call_output", "call_id": c["id"], "output": c["function"]["output"]}
            for c in calls
        ]
    return items


def _format_problem(run: RunRecord, decision: Decision) -> str | None:
    """Why the answer does not fit the run's `response_format`; None when it does."""
    wanted = chat_format(run.wire)
    problem = wanted.mismatch(decision.text) if wanted is not None else None
    return mismatch_message(wanted, problem) if wanted is not None and problem else None


def _answer(
    thread: ThreadRecord,
    run: RunRecord,
    decision: Decision,
    filtered: FilterRule | None,
    now: float,
) -> None:
    """Post the answer and complete the run; a filtered answer leaves an empty
    `incomplete` message and ends the run `incomplete` (reason `content_filter`)."""
    wire = run.wire
    content = [] if filtered is not None else [text_block(decision.text)]
    message = _message(thread, "assistant", content, now)
    message.update(assistant_id=wire["assistant_id"], run_id=wire["id"])
    if filtered is not None:
        message.update(
            status="incomplete",
            completed_at=None,
            incomplete_at=int(now),
            incomplete_details={"reason": FILTERED_REASON},
        )
    message_step(run, message["id"], now)
    if filtered is not None:
        _filtered(run, now)
    else:
        _end(run, "completed", now)


def _ended_before_the_model(
    rules: list[FilterRule], thread: ThreadRecord, run: RunRecord, now: float
) -> bool:
    """End the run before the model's turn when a test forces an outcome or the
    content filter flags its input; True when it ended."""
    outcome, run.outcome = run.outcome, None
    if outcome is not None:
        _force(run, outcome, now)
        return True
    if _input_flagged(rules, thread, run):
        _filtered(run, now)
        return True
    return False


def _input_flagged(rules: list[FilterRule], thread: ThreadRecord, run: RunRecord) -> bool:
    """True when the filter flags the run's prompt (instructions, user text) or a tool output."""
    if not rules:
        return False
    prompts, outputs = input_texts(run_items(thread, run))
    prompts.append(run.wire["instructions"] or "")
    return bool(flagged(rules, "prompt", prompts) or flagged(rules, "tool_output", outputs))


def _filtered(run: RunRecord, now: float) -> None:
    """End a run the way Azure ends one its content filter stopped."""
    _end(run, "incomplete", now)
    run.wire["incomplete_details"] = {"reason": FILTERED_REASON}


def _force(run: RunRecord, outcome: str, now: float) -> None:
    """End a run the way a test asked for (`x-emulator-run-outcome`, outcome rules, rates)."""
    wire = run.wire
    _add_usage(wire, 0, 0)
    if outcome == "expired":
        _end(run, "expired", now)
        return
    if outcome == "incomplete":
        _end(run, "incomplete", now)
        wire["incomplete_details"] = {"reason": "max_prompt_tokens"}
        return
    if outcome == "rate_limited":
        wire["last_error"] = {
            "code": "rate_limit_exceeded",
            "message": "Rate limit is exceeded. Try again in 1 seconds.",
        }
    else:
        wire["last_error"] = {"code": "server_error", "message": "Sorry, something went wrong."}
    _end(run, "failed", now)


def _end(run: RunRecord, status: str, now: float) -> None:
    """Put a run in a terminal state, stamping the matching time."""
    wire = run.wire
    wire["status"] = status
    wire["required_action"] = None
    stamp = {"completed": "completed_at", "failed": "failed_at", "cancelled": "cancelled_at"}
    if status in stamp:
        wire[stamp[status]] = int(now)
    if status != "expired":
        wire["expires_at"] = None
    if wire["usage"] is None:
        wire["usage"] = {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
    run.episode.pending = {}
    close_steps(run, status, now)


def _add_usage(wire: Json, prompt: int, completion: int) -> None:
    usage = wire["usage"] or {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
    usage["prompt_tokens"] += prompt
    usage["completion_tokens"] += completion
    usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
    wire["usage"] = usage


def _prompt_tokens(thread: ThreadRecord, run: RunRecord) -> int:
    texts = [run.wire["instructions"] or ""]
    texts += [message_text(m) for m in thread.messages.values()]
    texts += [str(v) for v in run.episode.outputs.values()]
    return count_tokens("\n".join(texts))


def _completion_tokens(decision: Decision) -> int:
    if decision.is_answer:
        return count_tokens(decision.text)
    return sum(count_tokens(call.name + call.arguments) for call in decision.calls)


# -- shared with the thread and message endpoints --


def thread_of(state: EmulatorState, thread_id: str) -> ThreadRecord:
    """A live thread, or the 404."""
    thread = state.threads.get(thread_id)
    if thread is None:
        raise not_found("thread", thread_id)
    return thread


def _message(thread: ThreadRecord, role: str, content: list[Json], now: float) -> Json:
    """Append a message to a thread and return it."""
    created = int(now)
    message: Json = {
        "id": new_id("msg"),
        "object": "thread.message",
        "created_at": created,
        "thread_id": thread.wire["id"],
        "role": role,
        "content": content,
        "assistant_id": None,
        "run_id": None,
        "attachments": [],
        "metadata": {},
        "status": "completed",
        "completed_at": created,
        "incomplete_at": None,
        "incomplete_details": None,
    }
    thread.messages[message["id"]] = message
    return message


def add_message(state: EmulatorState, thread: ThreadRecord, body: Json, param: str) -> Json:
    """Create a message from a `messages.create`-style body."""
    role = require_object(body, "role")
    if role not in ("user", "assistant"):
        raise bad_request(
            f"Invalid value: '{role}'. Supported values are: 'user' and 'assistant'.",
            param=f"{param}role",
            code="invalid_value",
        )
    content = message_content(require_object(body, "content"), f"{param}content")
    message = _message(thread, role, content, state.clock())
    message["metadata"] = metadata(body)
    attachments = body.get("attachments")
    if isinstance(attachments, list):
        message["attachments"] = attachments
    return message


def start_run(state: EmulatorState, thread: ThreadRecord, body: Json, ctx: Ctx) -> RunRecord:
    """Create a run on a thread (the checks and the defaults of `runs.create`)."""
    assistant_id = require_object(body, "assistant_id")
    assistant = state.assistants.get(assistant_id)
    if assistant is None:
        raise not_found("assistant", assistant_id)
    active = advance_thread(state, thread)
    if active is not None:
        raise bad_request(
            f"Thread {thread.wire['id']} already has an active run {active.wire['id']}."
        )
    run_metadata = metadata(body)
    for name in ("max_prompt_tokens", "max_completion_tokens"):
        bounded_number(body, name, MIN_RUN_TOKENS, integer=True)
    sampling(body)
    chat_format(body)
    tools = assistant_tools(body["tools"]) if body.get("tools") is not None else assistant["tools"]
    extra = body.get("additional_messages") or []
    if not isinstance(extra, list):
        raise bad_request("Invalid 'additional_messages': expected an array.")
    for index, item in enumerate(extra):
        add_message(state, thread, item, f"additional_messages[{index}].")
    instructions = body.get("instructions") or assistant["instructions"] or ""
    if body.get("additional_instructions"):
        instructions = f"{instructions}\n{body['additional_instructions']}".strip()
    now = state.clock()
    created = int(now)
    expiry = state.controls.run_expiry_seconds
    wire: Json = {
        "id": new_id("run"),
        "object": "thread.run",
        "created_at": created,
        "assistant_id": assistant_id,
        "thread_id": thread.wire["id"],
        "status": "queued",
        "started_at": None,
        "expires_at": created + math.ceil(expiry),
        "cancelled_at": None,
        "failed_at": None,
        "completed_at": None,
        "required_action": None,
        "last_error": None,
        "model": body.get("model") or assistant["model"],
        "instructions": instructions,
        "tools": tools,
        "metadata": run_metadata,
        "usage": None,
        "temperature": body.get("temperature", assistant["temperature"]),
        "top_p": body.get("top_p", assistant["top_p"]),
        "max_prompt_tokens": body.get("max_prompt_tokens"),
        "max_completion_tokens": body.get("max_completion_tokens"),
        "truncation_strategy": body.get("truncation_strategy")
        or {"type": "auto", "last_messages": None},
        "incomplete_details": None,
        "response_format": body.get("response_format") or assistant["response_format"],
        "tool_choice": body.get("tool_choice") or "auto",
        "parallel_tool_calls": body.get("parallel_tool_calls", True),
    }
    offered = function_names(tools) if wire["tool_choice"] != "none" else set()
    users = [m for m in thread.messages.values() if m["role"] == "user"]
    question = message_text(users[-1]) if users else ""
    script = run_metadata.get(SCRIPT_KEY) or assistant["metadata"].get(SCRIPT_KEY)
    run = RunRecord(
        wire=wire,
        episode=Episode.start(state.book, question, script),
        offered=offered,
        parallel=bool(wire["parallel_tool_calls"]),
        ready_at=now + state.model_delay(),
        deadline=now + expiry,
        outcome=state.pick_outcome(ctx.headers.get("x-emulator-run-outcome")),
    )
    thread.runs[wire["id"]] = run
    return run


# -- endpoints --


def _run_of(ctx: Ctx) -> tuple[ThreadRecord, RunRecord]:
    thread = thread_of(ctx.state, ctx.params["thread_id"])
    run = thread.runs.get(ctx.params["run_id"])
    if run is None:
        raise not_found("run", ctx.params["run_id"])
    return thread, run


async def create_run(ctx: Ctx) -> Reply:
    """POST /threads/{thread_id}/runs"""
    thread = thread_of(ctx.state, ctx.params["thread_id"])
    run = start_run(ctx.state, thread, ctx.body, ctx)
    if ctx.body.get("stream"):
        return stream_runs.stream_reply(ctx, thread, run, created=True)
    return Reply(run.wire, poll_hint=True)


async def list_runs(ctx: Ctx) -> Reply:
    """GET /threads/{thread_id}/runs"""
    thread = thread_of(ctx.state, ctx.params["thread_id"])
    advance_thread(ctx.state, thread)
    return Reply(paginate(ctx, [run.wire for run in thread.runs.values()]))


async def retrieve_run(ctx: Ctx) -> Reply:
    """GET /threads/{thread_id}/runs/{run_id}"""
    thread, run = _run_of(ctx)
    advance(ctx.state, thread, run)
    return Reply(run.wire, poll_hint=True)


async def update_run(ctx: Ctx) -> Reply:
    """POST /threads/{thread_id}/runs/{run_id}: metadata only."""
    thread, run = _run_of(ctx)
    advance(ctx.state, thread, run)
    run.wire["metadata"] = metadata(ctx.body, run.wire["metadata"])
    return Reply(run.wire, poll_hint=True)


async def cancel_run(ctx: Ctx) -> Reply:
    """POST /threads/{thread_id}/runs/{run_id}/cancel"""
    thread, run = _run_of(ctx)
    advance(ctx.state, thread, run)
    status = run.wire["status"]
    if status not in ("queued", "in_progress", "requires_action"):
        raise bad_request(f"Cannot cancel run with status '{status}'.")
    run.wire["status"] = "cancelling"
    run.wire["required_action"] = None
    run.cancel_at = ctx.state.clock()
    return Reply(run.wire, poll_hint=True)


async def submit_tool_outputs(ctx: Ctx) -> Reply:
    """POST /threads/{thread_id}/runs/{run_id}/submit_tool_outputs"""
    thread, run = _run_of(ctx)
    advance(ctx.state, thread, run)
    status = run.wire["status"]
    if status != "requires_action":
        raise bad_request(f'Runs in status "{status}" do not accept tool outputs.')
    items = require_object(ctx.body, "tool_outputs")
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise bad_request("Invalid 'tool_outputs': expected an array of objects.")
    outputs = {str(i.get("tool_call_id")): str(i.get("output") or "") for i in items}
    expected = list(run.episode.pending)
    got = [str(i.get("tool_call_id")) for i in items]
    if sorted(got) != sorted(expected):
        raise bad_request(
            f"Expected tool outputs for call_ids {expected}, got {got}", param="tool_outputs"
        )
    now = ctx.state.clock()
    record_outputs(run, outputs, now)
    run.episode.answer_calls(outputs)
    run.wire.update(status="queued", required_action=None)
    run.ready_at = now + ctx.state.model_delay()
    if ctx.body.get("stream"):
        return stream_runs.stream_reply(ctx, thread, run, created=False)
    return Reply(run.wire, poll_hint=True)


async def list_steps(ctx: Ctx) -> Reply:
    """GET /threads/{thread_id}/runs/{run_id}/steps"""
    thread, run = _run_of(ctx)
    advance(ctx.state, thread, run)
    return Reply(paginate(ctx, run.steps))


async def retrieve_step(ctx: Ctx) -> Reply:
    """GET /threads/{thread_id}/runs/{run_id}/steps/{step_id}"""
    thread, run = _run_of(ctx)
    advance(ctx.state, thread, run)
    for step in run.steps:
        if step["id"] == ctx.params["step_id"]:
            return Reply(step)
    raise not_found("run step", ctx.params["step_id"])


ROUTES = [
    Route("POST", "/threads/{thread_id}/runs", create_run),
    Route("GET", "/threads/{thread_id}/runs", list_runs),
    Route("GET", "/threads/{thread_id}/runs/{run_id}", retrieve_run),
    Route("POST", "/threads/{thread_id}/runs/{run_id}", update_run),
    Route("POST", "/threads/{thread_id}/runs/{run_id}/cancel", cancel_run),
    Route("POST", "/threads/{thread_id}/runs/{run_id}/submit_tool_outputs", submit_tool_outputs),
    Route("GET", "/threads/{thread_id}/runs/{run_id}/steps", list_steps),
    Route("GET", "/threads/{thread_id}/runs/{run_id}/steps/{step_id}", retrieve_step),
]
