"""Chat completions: conversions between chat messages and Responses items, and the endpoint.

The endpoint (`POST /chat/completions`, also under `/openai/deployments/<d>/`)
answers with the scripted model, so an emulator can be the upstream of
another one's proxy model, or serve apps that use chat completions directly.
"""

from __future__ import annotations

import json
import secrets
from typing import Any

from emulator.content_filter import (
    FilterRule,
    answer_flag,
    check_input,
    input_texts,
    prompt_results,
    results,
)
from emulator.errors import NO_STREAMING, ApiError, bad_request, invalid_type
from emulator.history import check_tool_outputs, replay
from emulator.items import input_items, item_text, output_text
from emulator.model import Decision, count_tokens
from emulator.routing import Ctx, Reply, Route, require_object
from emulator.structured import chat_format, mismatch_message
from emulator.wire import bounded_number, sampling

Json = dict[str, Any]


def chat_to_items(messages: Any) -> list[Json]:
    """Chat messages as Responses input items (message, function_call, function_call_output)."""
    if not isinstance(messages, list) or not messages:
        raise invalid_type("messages", "a non-empty array")
    raw: list[Json] = []
    for index, message in enumerate(messages):
        if not isinstance(message, dict):
            raise invalid_type(f"messages[{index}]", "an object")
        role = message.get("role")
        content = message.get("content")
        if role == "tool":
            raw.append(
                {
                    "type": "function_call_output",
                    "call_id": message.get("tool_call_id"),
                    "output": content if isinstance(content, str) else json.dumps(content),
                }
            )
            continue
        if content:
            parts = content if isinstance(content, str) else [chat_part(p) for p in content]
            raw.append({"role": "system" if role == "developer" else role, "content": parts})
        for call in message.get("tool_calls") or []:
            function = call.get("function") or {}
            raw.append(
                {
                    "type": "function_call",
                    "call_id": call.get("id"),
                    "name": function.get("name"),
                    "arguments": function.get("arguments", "{}"),
                }
            )
    return input_items(raw, "messages")


def chat_part(part: Any) -> Any:
    """A chat content part in the Responses form (`text`, `image_url`, `file`); others as is,
    for the item checks to refuse."""
    if not isinstance(part, dict):
        return part
    kind = part.get("type")
    if kind == "text":
        return {"type": "input_text", "text": part.get("text")}
    if kind == "image_url" and isinstance(part.get("image_url"), dict):
        image = part["image_url"]
        return {
            "type": "input_image",
            "image_url": image.get("url"),
            "detail": image.get("detail", "auto"),
        }
    if kind == "file" and isinstance(part.get("file"), dict):
        return {"type": "input_file", **part["file"]}
    return part


def items_to_chat(items: list[Json], instructions: str | None) -> list[Json]:
    """Responses items (and instructions) as chat messages, for an upstream model."""
    messages: list[Json] = [{"role": "system", "content": instructions}] if instructions else []
    for item in items:
        if item["type"] == "message":
            messages.append({"role": item["role"], "content": item_text(item)})
        elif item["type"] == "function_call":
            call = {
                "id": item["call_id"],
                "type": "function",
                "function": {"name": item["name"], "arguments": item["arguments"]},
            }
            last = messages[-1] if messages else None
            if last is not None and last["role"] == "assistant" and "tool_calls" in last:
                last["tool_calls"].append(call)
            else:
                messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
        elif item["type"] == "function_call_output":
            messages.append(
                {"role": "tool", "tool_call_id": item["call_id"], "content": output_text(item)}
            )
    return messages


def chat_tools(tools: list[Json]) -> list[Json]:
    """Function tools in the chat format, from either the Assistants or the Responses form."""
    wrapped: list[Json] = []
    for tool in tools:
        if tool.get("type") != "function":
            continue
        if isinstance(tool.get("function"), dict):
            wrapped.append({"type": "function", "function": tool["function"]})
        else:
            function = {k: v for k, v in tool.items() if k != "type" and v is not None}
            wrapped.append({"type": "function", "function": function})
    return wrapped


def completion_body(
    decision: Decision,
    model: str,
    prompt_tokens: int,
    now: float,
    filtered: FilterRule | None = None,
) -> Json:
    """A `chat.completion` object carrying the decision, with Azure's filter results.

    A filtered answer has no content and `finish_reason: "content_filter"`.
    """
    if decision.is_answer:
        content = None if filtered is not None else decision.text
        message: Json = {"role": "assistant", "content": content, "refusal": None}
        completion = count_tokens(decision.text)
        finish = "content_filter" if filtered is not None else "stop"
    else:
        message = {
            "role": "assistant",
            "content": None,
            "refusal": None,
            "tool_calls": [
                {
                    "id": call.call_id,
                    "type": "function",
                    "function": {"name": call.name, "arguments": call.arguments},
                }
                for call in decision.calls
            ],
        }
        completion = sum(count_tokens(c.name + c.arguments) for c in decision.calls)
        finish = "tool_calls"
    return {
        "id": "chatcmpl-" + secrets.token_hex(12),
        "object": "chat.completion",
        "created": int(now),
        "model": model,
        "prompt_filter_results": prompt_results(),
        "choices": [
            {
                "index": 0,
                "finish_reason": finish,
                "logprobs": None,
                "message": message,
                "content_filter_results": results(filtered),
            }
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion,
            "total_tokens": prompt_tokens + completion,
        },
    }


async def create_chat_completion(ctx: Ctx) -> Reply:
    """POST /chat/completions, answered by the script (never by the proxy)."""
    if ctx.body.get("stream"):
        raise bad_request(NO_STREAMING, param="stream")
    # On a deployment URL the deployment is the model; the v1 form names it in the body.
    model = str(ctx.body.get("model") or ctx.deployment or require_object(ctx.body, "model"))
    for name in ("max_tokens", "max_completion_tokens"):
        bounded_number(ctx.body, name, 1, integer=True)
    sampling(ctx.body)
    wanted = chat_format(ctx.body)
    history = chat_to_items(require_object(ctx.body, "messages"))
    check_tool_outputs(history)
    rules = ctx.state.filter_rules()
    check_input(rules, *input_texts(history))
    tools = ctx.body.get("tools") or []
    if not isinstance(tools, list):
        raise invalid_type("tools", "an array")
    offered = {t["function"]["name"] for t in chat_tools(tools) if "name" in t["function"]}
    if ctx.body.get("tool_choice") == "none":
        offered = set()
    episode = replay(ctx.state, history, None)
    decision = episode.decide(offered, parallel=ctx.body.get("parallel_tool_calls", True))
    prompt = count_tokens("\n".join(item_text(i) or str(i.get("output", "")) for i in history))
    filtered = answer_flag(rules, decision.text, decision.filtered) if decision.is_answer else None
    if wanted is not None and decision.is_answer and filtered is None:
        problem = wanted.mismatch(decision.text)
        if problem is not None:
            raise ApiError(500, mismatch_message(wanted, problem), type_="server_error")
    return Reply(completion_body(decision, model, prompt, ctx.state.clock(), filtered))


ROUTES = [Route("POST", "/chat/completions", create_chat_completion)]
