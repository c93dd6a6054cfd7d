"""Structured outputs: the `json_schema` and `json_object` formats a request asks for.

The three APIs name the format differently: chat's `response_format`
(`{"type": "json_schema", "json_schema": {"name", "schema", "strict"}}`), a run's
or assistant's `response_format` (the same), and a response's `text.format`
(`{"type": "json_schema", "name", "schema", "strict"}`). A schema is checked when
asked for, as the service checks it (a strict schema must close every object and
require every property); the scripted answer must then be JSON that validates,
since the real model's would. A script that answers otherwise is a mistake in the
script: the run or response fails with `server_error`, saying why.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from emulator.errors import bad_request

Json = dict[str, Any]


@dataclass(frozen=True)
class OutputFormat:
    """A requested JSON output: an object (`json_object`) or one matching `schema`."""

    kind: str
    name: str = ""
    schema: Json | None = None
    strict: bool = False

    def mismatch(self, text: str) -> str | None:
        """Why the answer is not what was asked for; None when it is."""
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            return "it is not JSON"
        if self.kind == "json_object":
            return None if isinstance(value, dict) else "it is not a JSON object"
        assert self.schema is not None
        error = next(iter(Draft202012Validator(self.schema).iter_errors(value)), None)
        if error is None:
            return None
        where = "/".join(str(p) for p in error.absolute_path) or "(root)"
        return f"at {where}: {error.message}"


def chat_format(body: Mapping[str, Any], param: str = "response_format") -> OutputFormat | None:
    """The format of chat's, a run's or an assistant's `response_format`, checked."""
    value = body.get(param)
    if not isinstance(value, dict):
        return None  # absent, "auto", or not an object (the type checks are elsewhere)
    if value.get("type") == "json_schema":
        spec = value.get("json_schema")
        if not isinstance(spec, dict):
            raise bad_request(
                f"Missing required parameter: '{param}.json_schema'.", param=f"{param}.json_schema"
            )
        return _schema_format(spec, f"{param}.json_schema")
    if value.get("type") == "json_object":
        return OutputFormat("json_object")
    return None


def text_format(body: Mapping[str, Any]) -> OutputFormat | None:
    """The format of a response's `text.format`, checked."""
    text = body.get("text")
    value = text.get("format") if isinstance(text, dict) else None
    if not isinstance(value, dict):
        return None
    if value.get("type") == "json_schema":
        return _schema_format(value, "text.format")
    if value.get("type") == "json_object":
        return OutputFormat("json_object")
    return None


def _schema_format(spec: Mapping[str, Any], param: str) -> OutputFormat:
    name = spec.get("name")
    schema = spec.get("schema")
    if not isinstance(name, str) or not name:
        raise bad_request(f"Missing required parameter: '{param}.name'.", param=f"{param}.name")
    if not isinstance(schema, dict):
        raise bad_request(f"Missing required parameter: '{param}.schema'.", param=f"{param}.schema")
    strict = spec.get("strict") is True
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as error:
        raise _invalid(name, param, error.message) from error
    if strict:
        for where, node in _objects(schema, ()):
            problem = _strict_problem(node)
            if problem is not None:
                context = "(" + ", ".join(repr(p) for p in where) + ")"
                raise _invalid(name, param, f"In context={context}, {problem}")
    return OutputFormat("json_schema", name, schema, strict)


def _invalid(name: str, param: str, detail: str) -> Exception:
    return bad_request(
        f"Invalid schema for response_format '{name}': {detail}",
        param=param,
        code="invalid_json_schema",
    )


def _strict_problem(node: Mapping[str, Any]) -> str | None:
    """What strict mode refuses in one object schema, as the service words it."""
    if node.get("additionalProperties") is not False:
        return "'additionalProperties' is required to be supplied and to be false."
    properties = node.get("properties") or {}
    required = node.get("required") or []
    missing = [p for p in properties if p not in required]
    if missing:
        return (
            "'required' is required to be supplied and to be an array including every key "
            f"in properties. Missing '{missing[0]}'."
        )
    return None


def _objects(node: Any, where: tuple[str, ...]) -> Iterator[tuple[tuple[str, ...], Json]]:
    """Every object schema in `node`, with the path of property names that leads to it."""
    if not isinstance(node, dict):
        return
    if node.get("type") == "object" or "properties" in node:
        yield where, node
    for key, child in (node.get("properties") or {}).items():
        yield from _objects(child, (*where, "properties", key))
    if isinstance(node.get("items"), dict):
        yield from _objects(node["items"], (*where, "items"))
    for keyword in ("anyOf", "allOf", "oneOf"):
        for index, child in enumerate(node.get(keyword) or []):
            yield from _objects(child, (*where, keyword, str(index)))
    for key, child in (node.get("$defs") or {}).items():
        yield from _objects(child, (*where, "$defs", key))


def mismatch_message(fmt: OutputFormat, reason: str) -> str:
    """The failure text of a scripted answer that does not fit the requested format."""
    target = f"the json_schema '{fmt.name}'" if fmt.kind == "json_schema" else "json_object"
    return f"The scripted answer does not match {target}: {reason}."
