"""The Responses API: create, retrieve, delete, cancel, input items; conversations in their module.

Each response holds its context (`history`): the previous response's context
and output, or the conversation's items, then its own input. The scripted
model replays that context to know where the script stands, so chains built
with `previous_response_id`, with a conversation or by resending every item
all play the same way.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

from emulator import conversations_api, stream_responses
from emulator.content_filter import FILTERED_REASON, answer_flag, check_input, input_texts
from emulator.errors import ApiError, bad_request, invalid_type
from emulator.history import check_tool_outputs, replay
from emulator.items import input_items, item_text, output_items
from emulator.model import Decision, count_tokens
from emulator.pagination import paginate
from emulator.proxy import proxy_failure
from emulator.routing import Ctx, Reply, Route, require_object
from emulator.runs import SCRIPT_KEY
from emulator.state import EmulatorState, ResponseRecord, new_id
from emulator.structured import mismatch_message, text_format
from emulator.wire import bounded_number, metadata, sampling

Json = dict[str, Any]

PENDING = ("queued", "in_progress")
MIN_OUTPUT_TOKENS = 16
"""The spec's minimum of a response's `max_output_tokens`."""


def _not_found(response_id: str) -> ApiError:
    return ApiError(404, f"Response with id '{response_id}' not found.")


def _function_tools(value: Any) -> list[Json]:
    """Responses-style (flat) tools; only functions mean anything to the scripted model."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise invalid_type("tools", "an array")
    tools: list[Json] = []
    for index, tool in enumerate(value):
        if not isinstance(tool, dict) or "type" not in tool:
            raise bad_request(
                f"Missing required parameter: 'tools[{index}].type'.", param=f"tools[{index}]"
            )
        if tool["type"] == "function" and not isinstance(tool.get("name"), str):
            raise bad_request(
                f"Missing required parameter: 'tools[{index}].name'.",
                param=f"tools[{index}].name",
            )
        defaults = {"strict": True, "parameters": None, "description": None}
        tools.append({**defaults, **tool} if tool["type"] == "function" else tool)
    return tools


def _usage(history: list[Json], output: list[Json]) -> Json:
    prompt = count_tokens("\n".join(item_text(i) or str(i.get("output", "")) for i in history))
    completion = count_tokens(
        "\n".join(item_text(i) or str(i.get("arguments", "")) for i in output)
    )
    return {
        "input_tokens": prompt,
        "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
        "output_tokens": completion,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": prompt + completion,
    }


def _fail(wire: Json, code: str, message: str) -> None:
    wire["status"] = "failed"
    wire["error"] = {"code": code, "message": message}


def _offered_tools(wire: Json) -> list[Json]:
    """The function tools the model may call (none with tool_choice "none")."""
    if wire["tool_choice"] == "none":
        return []
    return [t for t in wire["tools"] if t.get("type") == "function"]


def _ask_proxy(state: EmulatorState, record: ResponseRecord) -> Coroutine[Any, Any, Decision]:
    assert state.proxy is not None
    wire = record.wire
    return state.proxy.decide(
        record.history,
        instructions=wire["instructions"],
        tools=_offered_tools(wire),
        parallel=bool(wire["parallel_tool_calls"]),
        model=str(wire["model"]),
    )


def _proxy_decision(state: EmulatorState, record: ResponseRecord) -> Decision | None:
    """The upstream model's answer once it came (None until then); failures fail the response."""
    task = record.model_task
    if task is None:
        record.model_task = asyncio.get_running_loop().create_task(_ask_proxy(state, record))
        return None
    if not task.done():
        return None
    record.model_task = None
    error = task.exception()
    if error is not None:
        _fail(record.wire, "server_error", proxy_failure(error))
        return None
    return task.result()


def _answer_refused(state: EmulatorState, wire: Json, decision: Decision) -> bool:
    """End the response when its answer is filtered (incomplete) or does not fit the
    requested format (failed); True when it ended so."""
    if answer_flag(state.filter_rules(), decision.text, decision.filtered):
        wire["status"] = "incomplete"
        wire["incomplete_details"] = {"reason": FILTERED_REASON}
        return True
    wanted = text_format(wire)
    problem = wanted.mismatch(decision.text) if wanted is not None else None
    if wanted is not None and problem is not None:
        _fail(wire, "server_error", mismatch_message(wanted, problem))
        return True
    return False


def _finish(state: EmulatorState, record: ResponseRecord, decision: Decision | None = None) -> None:
    """Play the model's turn for a response (or end it the way a test asked)."""
    wire = record.wire
    now = state.clock()
    outcome, record.outcome = record.outcome, None
    wire["usage"] = _usage(record.history, [])
    if outcome == "rate_limited":
        _fail(wire, "rate_limit_exceeded", "Rate limit is exceeded.")
        return
    if outcome in ("failed", "expired"):
        _fail(wire, "server_error", "The model failed to produce a response.")
        return
    if outcome in ("incomplete", FILTERED_REASON):
        wire["status"] = "incomplete"
        reason = FILTERED_REASON if outcome == FILTERED_REASON else "max_output_tokens"
        wire["incomplete_details"] = {"reason": reason}
        return
    if decision is None and state.proxy is not None:
        decision = _proxy_decision(state, record)
        if decision is None:
            return
    if decision is None and record.planned is None:
        episode = record.episode or replay(state, record.history, None)
        offered = {t["name"] for t in _offered_tools(wire)}
        decision = episode.decide(offered, parallel=bool(wire["parallel_tool_calls"]))
        episode.pending = {}
    output = output_items(decision) if decision is not None else record.planned or []
    wire["usage"] = _usage(record.history, output)
    if decision is not None and decision.is_answer and _answer_refused(state, wire, decision):
        return
    wire["output"] = output
    limit = wire.get("max_output_tokens")
    if limit is not None and wire["usage"]["output_tokens"] > limit:
        wire["status"] = "incomplete"
        wire["incomplete_details"] = {"reason": "max_output_tokens"}
        return
    wire["status"] = "completed"
    wire["completed_at"] = int(now)
    conversation = wire.get("conversation")
    if conversation is not None and conversation["id"] in state.conversations:
        state.conversations[conversation["id"]].items.extend([*record.input_items, *output])


def advance(state: EmulatorState, record: ResponseRecord, *, streamed: bool = False) -> None:
    """Bring a background response up to date: queued -> in_progress -> its outcome.

    A foreground response is finished by its own create call (or its stream), never here.
    """
    wire = record.wire
    if not wire["background"] and not streamed:
        return
    if wire["status"] == "queued":
        wire["status"] = "in_progress"
    if wire["status"] == "in_progress" and state.clock() >= record.ready_at:
        _finish(state, record)


def _record_of(ctx: Ctx) -> ResponseRecord:
    response_id = ctx.params["response_id"]
    record = ctx.state.responses.get(response_id)
    if record is None:
        raise _not_found(response_id)
    advance(ctx.state, record)
    return record


def _context(ctx: Ctx, body: Json) -> tuple[list[Json], str | None, Json | None]:
    """The items before this response's input, the inherited script, and the conversation."""
    previous_id = body.get("previous_response_id")
    conversation = body.get("conversation")
    if previous_id and conversation:
        raise bad_request(
            "Mutually exclusive parameters: Ensure you are only providing one of: "
            "'previous_response_id' or 'conversation'.",
            code="mutually_exclusive_parameters",
        )
    if previous_id:
        previous = ctx.state.responses.get(previous_id)
        if previous is None:
            raise bad_request(
                f"Previous response with id '{previous_id}' not found.",
                param="previous_response_id",
                code="previous_response_not_found",
            )
        advance(ctx.state, previous)
        if previous.wire["status"] in PENDING:
            raise bad_request(
                f"Previous response with id '{previous_id}' is still in progress.",
                param="previous_response_id",
            )
        script = previous.wire["metadata"].get(SCRIPT_KEY)
        return [*previous.history, *previous.wire["output"]], script, None
    if conversation:
        conversation_id = conversation if isinstance(conversation, str) else conversation.get("id")
        record = conversations_api.conversation_of(ctx.state, str(conversation_id))
        return list(record.items), None, {"id": record.wire["id"]}
    return [], None, None


def _keys(item: Json) -> set[str]:
    """What names an item across requests: its id, a call's call id, a message's text."""
    keys = {item["id"]} if isinstance(item.get("id"), str) else set()
    if item.get("type") in ("function_call", "function_call_output"):
        keys.add(f"{item['type']}:{item['call_id']}")
    elif item.get("type") == "message":
        keys.add(f"message:{item['role']}:{item_text(item)}")
    return keys


def _already_in(item: Json, context: list[Json]) -> bool:
    """True when the client resent an item the stored context holds already."""
    keys = _keys(item)
    return bool(keys) and any(keys & _keys(known) for known in context)


def _chain_of(state: EmulatorState, given: list[Json]) -> tuple[list[Json], str | None]:
    """The stored context a request continues, found by the items it resends.

    A client that sends its own history (no `previous_response_id`) may leave items
    out (an agent handoff that strips earlier tool calls). The script's place must not
    depend on that: when the input names an item or a call of a stored response, the
    request continues that response's context (its history and output), as kept here.
    """
    referenced: set[str] = set()
    for item in given:
        referenced |= _keys(item)
        if item["type"] == "function_call_output":  # answers a call some output made
            referenced.add(f"function_call:{item['call_id']}")
    for record in reversed(list(state.responses.values())):
        made: set[str] = set()
        for item in record.wire["output"]:
            made |= _keys(item)
        if referenced & made:
            known = [*record.history, *record.wire["output"]]
            return known, record.wire["metadata"].get(SCRIPT_KEY)
    return [], None


async def create_response(ctx: Ctx) -> Reply:
    """POST /responses: foreground (answered now) or background (queued, then polled)."""
    body = ctx.body
    model = require_object(body, "model")
    bounded_number(body, "max_output_tokens", MIN_OUTPUT_TOKENS, integer=True)
    sampling(body)
    text_format(body)  # a bad schema is refused now, as the service does
    given = input_items(body.get("input", []))
    background = bool(body.get("background", False))
    store = body.get("store", True) is not False
    if background and not store:
        raise bad_request("Background responses must be stored: set store=true.", param="store")
    before, inherited_script, conversation = _context(ctx, body)
    if not before and conversation is None:
        before, inherited_script = _chain_of(ctx.state, given)
        given_new = [item for item in given if not _already_in(item, before)]
    else:
        given_new = given
    history = [*before, *given_new]
    check_tool_outputs(history)
    prompts, tool_outputs = input_texts(given)
    if isinstance(body.get("instructions"), str):
        prompts.append(body["instructions"])
    check_input(ctx.state.filter_rules(), prompts, tool_outputs)
    tools = _function_tools(body.get("tools"))
    meta = metadata(body)
    script = meta.get(SCRIPT_KEY) or inherited_script
    if script and SCRIPT_KEY not in meta:
        meta[SCRIPT_KEY] = script
    wire: Json = {
        "id": new_id("resp"),
        "object": "response",
        "created_at": int(ctx.state.clock()),
        "status": "queued" if background else "in_progress",
        "background": background,
        "completed_at": None,
        "conversation": conversation,
        "error": None,
        "incomplete_details": None,
        "instructions": body.get("instructions"),
        "max_output_tokens": body.get("max_output_tokens"),
        "metadata": meta,
        "model": model,
        "output": [],
        "parallel_tool_calls": body.get("parallel_tool_calls", True),
        "previous_response_id": body.get("previous_response_id"),
        "store": store,
        "temperature": body.get("temperature", 1.0),
        "text": body.get("text") or {"format": {"type": "text"}},
        "tool_choice": body.get("tool_choice") or "auto",
        "tools": tools,
        "top_p": body.get("top_p", 1.0),
        "truncation": body.get("truncation") or "disabled",
        "usage": None,
    }
    if isinstance(body.get("user"), str):  # left out unless given: the spec has no null here
        wire["user"] = body["user"]
    record = ResponseRecord(
        wire=wire,
        input_items=given,
        history=history,
        episode=replay(ctx.state, history, script),
        ready_at=ctx.state.clock() + ctx.state.model_delay(),
        outcome=ctx.state.pick_outcome(ctx.headers.get("x-emulator-run-outcome")),
    )
    if store:
        ctx.state.responses[wire["id"]] = record
    if body.get("stream"):
        return stream_responses.stream_reply(ctx, record)
    if not background:
        await asyncio.sleep(max(0.0, record.ready_at - ctx.state.clock()))
        decision = None
        if ctx.state.proxy is not None and record.outcome is None:
            try:
                decision = await _ask_proxy(ctx.state, record)
            except Exception as error:  # any upstream failure fails the response
                _fail(wire, "server_error", proxy_failure(error))
                return Reply(wire, poll_hint=True)
        _finish(ctx.state, record, decision)
    return Reply(wire, poll_hint=True)


async def retrieve_response(ctx: Ctx) -> Reply:
    """GET /responses/{response_id} (`?stream=true`: its events again, see stream_responses)"""
    record = _record_of(ctx)
    if ctx.query.get("stream") == "true":
        return stream_responses.resume_reply(ctx, record)
    return Reply(record.wire, poll_hint=True)


async def delete_response(ctx: Ctx) -> Reply:
    """DELETE /responses/{response_id}"""
    record = _record_of(ctx)
    del ctx.state.responses[record.wire["id"]]
    return Reply({"id": record.wire["id"], "object": "response", "deleted": True})


async def cancel_response(ctx: Ctx) -> Reply:
    """POST /responses/{response_id}/cancel: background responses only."""
    record = _record_of(ctx)
    wire = record.wire
    if not wire["background"]:
        raise bad_request("Only responses created with background=true can be cancelled.")
    if wire["status"] in PENDING:
        wire["status"] = "cancelled"
    elif wire["status"] != "cancelled":
        raise bad_request(f"Cannot cancel a response with status '{wire['status']}'.")
    return Reply(wire, poll_hint=True)


async def list_input_items(ctx: Ctx) -> Reply:
    """GET /responses/{response_id}/input_items"""
    record = _record_of(ctx)
    return Reply(paginate(ctx, record.input_items))


ROUTES = [
    Route("POST", "/responses", create_response),
    Route("GET", "/responses/{response_id}", retrieve_response),
    Route("DELETE", "/responses/{response_id}", delete_response),
    Route("POST", "/responses/{response_id}/cancel", cancel_response),
    Route("GET", "/responses/{response_id}/input_items", list_input_items),
    *conversations_api.ROUTES,
]
