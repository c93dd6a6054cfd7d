"""Responses API items: input normalised to stored items, and the model's output items."""

from __future__ import annotations

import json
import secrets
from typing import Any

from emulator.errors import bad_request, invalid_type
from emulator.model import Decision

Json = dict[str, Any]

_ROLES = ("user", "system", "developer", "assistant")


def item_id(prefix: str) -> str:
    """A fresh item id (`msg_...`, `fc_...`, `fco_...`)."""
    return f"{prefix}_{secrets.token_hex(12)}"


def input_items(value: Any, param: str = "input") -> list[Json]:
    """The `input` of a request (a string or items) as stored items, each with an id."""
    if isinstance(value, str):
        return [_message("user", value)]
    if not isinstance(value, list):
        raise invalid_type(param, "a string or an array of input items")
    return [_input_item(item, f"{param}[{index}]") for index, item in enumerate(value)]


def _input_item(item: Any, where: str) -> Json:
    if not isinstance(item, dict):
        raise invalid_type(where, "an object")
    kind = item.get("type", "message")
    if kind == "message":
        role = item.get("role")
        if role not in _ROLES:
            raise bad_request(
                f"Invalid value: '{role}'. Supported values are: 'assistant', 'system', "
                "'developer', and 'user'.",
                param=f"{where}.role",
                code="invalid_value",
            )
        return _message(role, item.get("content"), where, item.get("id"))
    if kind == "function_call_output":
        call_id = item.get("call_id")
        output = item.get("output")
        if not isinstance(call_id, str):
            raise bad_request(f"Missing required parameter: '{where}.call_id'.", param=where)
        if not isinstance(output, str | list):
            raise bad_request(f"Missing required parameter: '{where}.output'.", param=where)
        return {
            "id": item.get("id") or item_id("fco"),
            "type": "function_call_output",
            "call_id": call_id,
            "output": output,
            "status": "completed",
        }
    if kind == "function_call":
        for name in ("call_id", "name", "arguments"):
            if not isinstance(item.get(name), str):
                raise bad_request(
                    f"Missing required parameter: '{where}.{name}'.", param=f"{where}.{name}"
                )
        return {
            "id": item.get("id") or item_id("fc"),
            "type": "function_call",
            "call_id": item["call_id"],
            "name": item["name"],
            "arguments": item["arguments"],
            "status": "completed",
        }
    raise bad_request(
        f"Invalid value: '{kind}'. The emulator takes 'message', 'function_call' and "
        "'function_call_output' items.",
        param=f"{where}.type",
        code="invalid_value",
    )


def _message(role: str, content: Any, where: str = "input", given_id: Any = None) -> Json:
    part_type = "output_text" if role == "assistant" else "input_text"
    if isinstance(content, str):
        parts: list[Json] = [{"type": part_type, "text": content}]
    elif isinstance(content, list) and content:
        parts = [
            content_part(part, part_type, f"{where}.content[{index}]")
            for index, part in enumerate(content)
        ]
    else:
        raise invalid_type(f"{where}.content", "a string or an array of content parts")
    if role == "assistant":
        parts = [{"annotations": [], "logprobs": [], **p} for p in parts]
    return {
        "id": given_id if isinstance(given_id, str) else item_id("msg"),
        "type": "message",
        "role": role,
        "status": "completed",
        "content": parts,
    }


_TEXT_PARTS = ("input_text", "output_text", "refusal")
_DETAILS = ("low", "high", "auto")


def content_part(part: Any, default_type: str, where: str) -> Json:
    """One content part of a message item, checked as the service checks it.

    Text parts keep their text; `input_image` needs an `image_url` (URL or data URL)
    or a `file_id`; `input_file` a `file_id`, `file_url` or `file_data` (with a
    `filename`). The scripted model reads only the text (images and files are kept
    on the item, and ignored).
    """
    if not isinstance(part, dict):
        raise invalid_type(where, "an object")
    kind = part.get("type", default_type)
    if kind in _TEXT_PARTS:
        text = part.get("refusal" if kind == "refusal" else "text")
        if not isinstance(text, str):
            raise bad_request(f"Missing required parameter: '{where}.text'.", param=where)
        return {"type": kind, ("refusal" if kind == "refusal" else "text"): text}
    if kind == "input_image":
        detail = part.get("detail", "auto")
        if detail not in _DETAILS:
            raise bad_request(
                f"Invalid value: '{detail}'. Supported values are: 'low', 'high', and 'auto'.",
                param=f"{where}.detail",
                code="invalid_value",
            )
        if not any(isinstance(part.get(k), str) for k in ("image_url", "file_id")):
            raise bad_request(
                f"Missing required parameter: '{where}.image_url' or '{where}.file_id'.",
                param=where,
            )
        return {"type": kind, "detail": detail, **_strings(part, ("image_url", "file_id"))}
    if kind == "input_file":
        kept = _strings(part, ("file_id", "file_url", "file_data", "filename"))
        if not kept.keys() & {"file_id", "file_url", "file_data"}:
            raise bad_request(
                f"Missing required parameter: '{where}.file_id', '{where}.file_url' or "
                f"'{where}.file_data'.",
                param=where,
            )
        if "file_data" in kept and "filename" not in kept:
            raise bad_request(f"Missing required parameter: '{where}.filename'.", param=where)
        return {"type": kind, **kept}
    raise bad_request(
        f"Invalid value: '{kind}'. Supported values are: 'input_text', 'input_image', "
        "'input_file', 'output_text' and 'refusal'.",
        param=f"{where}.type",
        code="invalid_value",
    )


def _strings(part: Json, names: tuple[str, ...]) -> Json:
    return {name: part[name] for name in names if isinstance(part.get(name), str)}


def output_items(decision: Decision) -> list[Json]:
    """The model's decision as Responses output items (`function_call` or `message`)."""
    if decision.is_answer:
        return [
            {
                "id": item_id("msg"),
                "type": "message",
                "role": "assistant",
                "status": "completed",
                "content": [
                    {
                        "type": "output_text",
                        "text": decision.text,
                        "annotations": [],
                        "logprobs": [],
                    }
                ],
            }
        ]
    return [
        {
            "id": item_id("fc"),
            "type": "function_call",
            "call_id": call.call_id,
            "name": call.name,
            "arguments": call.arguments,
            "status": "completed",
        }
        for call in decision.calls
    ]


def item_text(item: Json) -> str:
    """The text of a message item (its text parts joined); '' for other items."""
    if item.get("type") != "message":
        return ""
    return "\n".join(str(p.get("text", "")) for p in item.get("content", []))


def output_text(item: Json) -> str:
    """A function_call_output's output as text (list outputs keep their text parts)."""
    output = item.get("output")
    if isinstance(output, str):
        return output
    return json.dumps(output)
