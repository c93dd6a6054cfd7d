"""Assistants v2: the assistant, thread and message endpoints (runs are in `runs`)."""

from __future__ import annotations

from typing import Any

from emulator import stream_runs
from emulator.errors import bad_request, invalid_type, not_found
from emulator.pagination import paginate
from emulator.routing import Ctx, Reply, Route, require_object
from emulator.runs import add_message, advance_thread, start_run, thread_of
from emulator.state import EmulatorState, ThreadRecord, new_id
from emulator.wire import assistant_tools, metadata

Json = dict[str, Any]

_ASSISTANT_FIELDS = ("name", "description", "instructions", "temperature", "top_p")


def _assistant_of(ctx: Ctx) -> Json:
    assistant_id = ctx.params["assistant_id"]
    assistant = ctx.state.assistants.get(assistant_id)
    if assistant is None:
        raise not_found("assistant", assistant_id)
    return assistant


def _apply_assistant_fields(assistant: Json, body: Json) -> None:
    for name in _ASSISTANT_FIELDS:
        if name in body:
            assistant[name] = body[name]
    if "model" in body:
        if not isinstance(body["model"], str):
            raise invalid_type("model", "a string")
        assistant["model"] = body["model"]
    if "tools" in body:
        assistant["tools"] = assistant_tools(body["tools"])
    if body.get("tool_resources") is not None:
        assistant["tool_resources"] = body["tool_resources"]
    if body.get("response_format") is not None:
        assistant["response_format"] = body["response_format"]
    assistant["metadata"] = metadata(body, assistant["metadata"])


async def create_assistant(ctx: Ctx) -> Reply:
    """POST /assistants"""
    require_object(ctx.body, "model")
    assistant: Json = {
        "id": new_id("asst"),
        "object": "assistant",
        "created_at": int(ctx.state.clock()),
        "name": None,
        "description": None,
        "model": "",
        "instructions": None,
        "tools": [],
        "tool_resources": {},
        "metadata": {},
        "temperature": 1.0,
        "top_p": 1.0,
        "response_format": "auto",
    }
    _apply_assistant_fields(assistant, ctx.body)
    ctx.state.assistants[assistant["id"]] = assistant
    return Reply(assistant)


async def list_assistants(ctx: Ctx) -> Reply:
    """GET /assistants"""
    return Reply(paginate(ctx, list(ctx.state.assistants.values())))


async def retrieve_assistant(ctx: Ctx) -> Reply:
    """GET /assistants/{assistant_id}"""
    return Reply(_assistant_of(ctx))


async def update_assistant(ctx: Ctx) -> Reply:
    """POST /assistants/{assistant_id}"""
    assistant = _assistant_of(ctx)
    _apply_assistant_fields(assistant, ctx.body)
    return Reply(assistant)


async def delete_assistant(ctx: Ctx) -> Reply:
    """DELETE /assistants/{assistant_id}"""
    assistant = _assistant_of(ctx)
    del ctx.state.assistants[assistant["id"]]
    return Reply({"id": assistant["id"], "object": "assistant.deleted", "deleted": True})


def _new_thread(state: EmulatorState, body: Json) -> ThreadRecord:
    messages = body.get("messages") or []
    if not isinstance(messages, list):
        raise invalid_type("messages", "an array")
    thread = ThreadRecord(
        wire={
            "id": new_id("thread"),
            "object": "thread",
            "created_at": int(state.clock()),
            "metadata": metadata(body),
            "tool_resources": body.get("tool_resources") or {},
        }
    )
    for index, message in enumerate(messages):
        if not isinstance(message, dict):
            raise invalid_type(f"messages[{index}]", "an object")
        add_message(state, thread, message, f"messages[{index}].")
    state.threads[thread.wire["id"]] = thread
    return thread


async def create_thread(ctx: Ctx) -> Reply:
    """POST /threads"""
    return Reply(_new_thread(ctx.state, ctx.body).wire)


async def create_thread_and_run(ctx: Ctx) -> Reply:
    """POST /threads/runs: a new thread (from `thread`) and a run on it."""
    spec = ctx.body.get("thread") or {}
    if not isinstance(spec, dict):
        raise invalid_type("thread", "an object")
    require_object(ctx.body, "assistant_id")
    if ctx.body["assistant_id"] not in ctx.state.assistants:
        raise not_found("assistant", ctx.body["assistant_id"])
    thread = _new_thread(ctx.state, spec)
    run = start_run(ctx.state, thread, ctx.body, ctx)
    if ctx.body.get("stream"):
        return stream_runs.stream_reply(ctx, thread, run, created=True)
    return Reply(run.wire, poll_hint=True)


async def retrieve_thread(ctx: Ctx) -> Reply:
    """GET /threads/{thread_id}"""
    return Reply(thread_of(ctx.state, ctx.params["thread_id"]).wire)


async def update_thread(ctx: Ctx) -> Reply:
    """POST /threads/{thread_id}: metadata and tool resources."""
    thread = thread_of(ctx.state, ctx.params["thread_id"])
    thread.wire["metadata"] = metadata(ctx.body, thread.wire["metadata"])
    if ctx.body.get("tool_resources") is not None:
        thread.wire["tool_resources"] = ctx.body["tool_resources"]
    return Reply(thread.wire)


async def delete_thread(ctx: Ctx) -> Reply:
    """DELETE /threads/{thread_id}: its messages and runs go with it."""
    thread = thread_of(ctx.state, ctx.params["thread_id"])
    del ctx.state.threads[thread.wire["id"]]
    return Reply({"id": thread.wire["id"], "object": "thread.deleted", "deleted": True})


def _message_of(ctx: Ctx) -> tuple[ThreadRecord, Json]:
    thread = thread_of(ctx.state, ctx.params["thread_id"])
    message = thread.messages.get(ctx.params["message_id"])
    if message is None:
        raise not_found("message", ctx.params["message_id"])
    return thread, message


async def create_message(ctx: Ctx) -> Reply:
    """POST /threads/{thread_id}/messages: refused while a run is active."""
    thread = thread_of(ctx.state, ctx.params["thread_id"])
    active = advance_thread(ctx.state, thread)
    if active is not None:
        raise bad_request(
            f"Can't add messages to {thread.wire['id']} while a run {active.wire['id']} is active."
        )
    return Reply(add_message(ctx.state, thread, ctx.body, ""))


async def list_messages(ctx: Ctx) -> Reply:
    """GET /threads/{thread_id}/messages (newest first by default; `run_id` filters)."""
    thread = thread_of(ctx.state, ctx.params["thread_id"])
    advance_thread(ctx.state, thread)
    messages = list(thread.messages.values())
    run_id = ctx.query.get("run_id")
    if run_id is not None:
        messages = [m for m in messages if m["run_id"] == run_id]
    return Reply(paginate(ctx, messages))


async def retrieve_message(ctx: Ctx) -> Reply:
    """GET /threads/{thread_id}/messages/{message_id}"""
    return Reply(_message_of(ctx)[1])


async def update_message(ctx: Ctx) -> Reply:
    """POST /threads/{thread_id}/messages/{message_id}: metadata only."""
    _, message = _message_of(ctx)
    message["metadata"] = metadata(ctx.body, message["metadata"])
    return Reply(message)


async def delete_message(ctx: Ctx) -> Reply:
    """DELETE /threads/{thread_id}/messages/{message_id}"""
    thread, message = _message_of(ctx)
    del thread.messages[message["id"]]
    return Reply({"id": message["id"], "object": "thread.message.deleted", "deleted": True})


ROUTES = [
    Route("POST", "/assistants", create_assistant),
    Route("GET", "/assistants", list_assistants),
    Route("GET", "/assistants/{assistant_id}", retrieve_assistant),
    Route("POST", "/assistants/{assistant_id}", update_assistant),
    Route("DELETE", "/assistants/{assistant_id}", delete_assistant),
    Route("POST", "/threads", create_thread),
    Route("POST", "/threads/runs", create_thread_and_run),
    Route("GET", "/threads/{thread_id}", retrieve_thread),
    Route("POST", "/threads/{thread_id}", update_thread),
    Route("DELETE", "/threads/{thread_id}", delete_thread),
    Route("POST", "/threads/{thread_id}/messages", create_message),
    Route("GET", "/threads/{thread_id}/messages", list_messages),
    Route("GET", "/threads/{thread_id}/messages/{message_id}", retrieve_message),
    Route("POST", "/threads/{thread_id}/messages/{message_id}", update_message),
    Route("DELETE", "/threads/{thread_id}/messages/{message_id}", delete_message),
]
