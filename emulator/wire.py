"""Checks and builders shared by the endpoints: metadata, tools, message content."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from emulator.errors import bad_request, invalid_type

Json = dict[str, Any]

MAX_METADATA_PAIRS = 16
MAX_METADATA_KEY = 64
MAX_METADATA_VALUE = 512


def metadata(body: Mapping[str, Any], current: Json | None = None) -> Json:
    """The `metadata` of a body checked like the service does (16 pairs, short strings)."""
    value = body.get("metadata")
    if value is None:
        return dict(current or {})
    if not isinstance(value, dict):
        raise invalid_type("metadata", "an object")
    if len(value) > MAX_METADATA_PAIRS:
        raise bad_request(
            f"Invalid 'metadata': too many properties. Expected an object with at most "
            f"{MAX_METADATA_PAIRS} properties, but got an object with {len(value)} properties.",
            param="metadata",
            code="object_above_max_properties",
        )
    for key, item in value.items():
        if len(key) > MAX_METADATA_KEY:
            raise bad_request(
                f"Invalid 'metadata': key '{key}' is longer than {MAX_METADATA_KEY} characters.",
                param="metadata",
            )
        if not isinstance(item, str) or len(item) > MAX_METADATA_VALUE:
            raise bad_request(
                f"Invalid 'metadata.{key}': expected a string of at most "
                f"{MAX_METADATA_VALUE} characters.",
                param=f"metadata.{key}",
            )
    return dict(value)


def bounded_number(
    body: Mapping[str, Any],
    name: str,
    low: float,
    high: float | None = None,
    *,
    integer: bool = False,
) -> Any:
    """A numeric body field within the spec's bounds (None when absent), else its 400."""
    value = body.get(name)
    if value is None:
        return None
    wrong = integer and not isinstance(value, int)
    if isinstance(value, bool) or not isinstance(value, int | float) or wrong:
        raise invalid_type(name, "an integer" if integer else "a number")
    number = float(value)
    if number < low:
        raise bad_request(
            f"Invalid '{name}': {'integer' if integer else 'number'} below minimum value. "
            f"Expected a value >= {low:g}, but got {value} instead.",
            param=name,
            code="integer_below_min_value" if integer else "decimal_below_min_value",
        )
    if high is not None and number > high:
        raise bad_request(
            f"Invalid '{name}': {'integer' if integer else 'number'} above maximum value. "
            f"Expected a value <= {high:g}, but got {value} instead.",
            param=name,
            code="integer_above_max_value" if integer else "decimal_above_max_value",
        )
    return value


def sampling(body: Mapping[str, Any]) -> None:
    """`temperature` (0-2) and `top_p` (0-1), as every model API bounds them."""
    bounded_number(body, "temperature", 0, 2)
    bounded_number(body, "top_p", 0, 1)


def assistant_tools(value: Any, param: str = "tools") -> list[Json]:
    """Assistants-style tools (`{"type": "function", "function": {...}}`), normalised."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise invalid_type(param, "an array")
    tools: list[Json] = []
    for index, tool in enumerate(value):
        where = f"{param}[{index}]"
        if not isinstance(tool, dict) or "type" not in tool:
            raise bad_request(f"Missing required parameter: '{where}.type'.", param=where)
        if tool["type"] == "function":
            function = tool.get("function")
            if not isinstance(function, dict) or not isinstance(function.get("name"), str):
                raise bad_request(
                    f"Missing required parameter: '{where}.function.name'.", param=where
                )
            tools.append({"type": "function", "function": {"strict": False, **function}})
        elif tool["type"] in ("code_interpreter", "file_search"):
            tools.append(dict(tool))
        else:
            raise bad_request(
                f"Invalid value: '{tool['type']}'. Supported values are: 'code_interpreter', "
                "'function', and 'file_search'.",
                param=f"{where}.type",
                code="invalid_value",
            )
    return tools


def function_names(tools: list[Json]) -> set[str]:
    """The names of the function tools on offer."""
    names: set[str] = set()
    for tool in tools:
        if tool.get("type") != "function":
            continue
        function = tool.get("function")
        name = function.get("name") if isinstance(function, dict) else tool.get("name")
        if isinstance(name, str):
            names.add(name)
    return names


def message_content(value: Any, param: str = "content") -> list[Json]:
    """A message's `content` (text or parts) as the service stores it."""
    if isinstance(value, str):
        return [text_block(value)]
    if not isinstance(value, list) or not value:
        raise invalid_type(param, "a string or a non-empty array of content parts")
    blocks: list[Json] = []
    for index, part in enumerate(value):
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text" and isinstance(part.get("text"), str):
            blocks.append(text_block(part["text"]))
        elif kind in ("image_url", "image_file") and isinstance(part.get(kind), dict):
            blocks.append({"type": kind, kind: {"detail": "auto", **part[kind]}})
        else:
            raise bad_request(
                f"Invalid content part at '{param}[{index}]'.", param=f"{param}[{index}]"
            )
    return blocks


def text_block(text: str) -> Json:
    """A text content block of a thread message."""
    return {"type": "text", "text": {"value": text, "annotations": []}}


def message_text(message: Json) -> str:
    """The text parts of a thread message, joined."""
    parts = [
        block["text"]["value"] for block in message.get("content", []) if block["type"] == "text"
    ]
    return "\n".join(parts)
