"""The tool registry: plain typed functions the model may call, and nothing else.

A tool is a function with type annotations and a docstring. Its JSON schema is
derived from the signature with pydantic, its arguments are validated before it
runs, and only registered names can run: a call is looked up in this registry's
own table, never through `eval` or `globals()`.

`invoke` never raises for a bad call. An unknown name, arguments that are not JSON
or fail validation, a tool that raises or one that overruns its time limit each
become an error text returned to the model as that call's output, so the run goes
on and the model can correct itself.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cached_property
from typing import Annotated, Any, TypeVar, get_args, get_origin, get_type_hints, overload

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model
from pydantic_core import to_jsonable_python

from durable_assistant.logging_setup import run_log
from durable_assistant.model import ToolCall, ToolResult, describe_validation_error

logger = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])

TOOL_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
ERROR_PREFIX = "error: "


class _CallIdMarker:
    """Metadata marking the parameter that receives the tool call's id."""

    def __repr__(self) -> str:
        return "CallId"


CALL_ID_MARKER = _CallIdMarker()

CallId = Annotated[str, CALL_ID_MARKER]
"""Annotate a parameter with this to receive the call id (an idempotency key).

Activities run at least once, so a tool with side effects should use it to do its
work only once per call. The parameter is hidden from the schema the model sees.
"""


class ToolDefinitionError(TypeError):
    """A function cannot be a tool (no annotations, *args, bad name, duplicate)."""


class UnknownToolError(LookupError):
    """A run asked for tools that are not registered."""


class ToolArgumentError(ValueError):
    """Raise from a tool when an argument passed schema validation but is still wrong.

    The model gets the same kind of text as for a validation error, naming the field.
    """

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


@dataclass(frozen=True)
class ToolDefinition:
    """What the model is told about a tool: name, description, JSON schema."""

    name: str
    description: str
    parameters: dict[str, Any]


@dataclass(frozen=True)
class Tool:
    """A registered tool: the function and the model that validates its arguments."""

    name: str
    func: Callable[..., Any]
    description: str
    arguments: type[BaseModel]
    call_id_parameter: str | None

    @cached_property
    def definition(self) -> ToolDefinition:
        """Built on first use and kept: every model request sends it, and deriving the
        schema costs more than the rest of building a request. Shared, so read-only."""
        return ToolDefinition(self.name, self.description, _schema_of(self.arguments))


class ToolRegistry:
    """Registered tools by name; the only way a model's call reaches a function."""

    def __init__(self) -> None:
        self._tools: dict[str, Tool] = {}
        self._lock = threading.Lock()

    @overload
    def tool(self, func: F, /) -> F: ...

    @overload
    def tool(
        self, func: None = None, /, *, name: str | None = None, description: str | None = None
    ) -> Callable[[F], F]: ...

    def tool(
        self,
        func: F | None = None,
        /,
        *,
        name: str | None = None,
        description: str | None = None,
    ) -> F | Callable[[F], F]:
        """Decorator: register a function as a tool; the function itself is unchanged."""

        def decorate(f: F) -> F:
            self.register(f, name=name, description=description)
            return f

        return decorate(func) if func is not None else decorate

    def register(
        self, func: Callable[..., Any], *, name: str | None = None, description: str | None = None
    ) -> Tool:
        """Register `func`; re-registering the same function (a module reload) replaces it."""
        tool = build_tool(func, name=name, description=description)
        with self._lock:
            existing = self._tools.get(tool.name)
            if existing is not None and _qualified(existing.func) != _qualified(func):
                raise ToolDefinitionError(
                    f"tool name {tool.name!r} is already taken by {_qualified(existing.func)}"
                )
            self._tools[tool.name] = tool
        return tool

    def unregister(self, name: str) -> None:
        """Forget a tool (tests; a tool switched off at run time)."""
        with self._lock:
            self._tools.pop(name, None)

    def names(self) -> list[str]:
        """Registered tool names, sorted."""
        return sorted(self._tools)

    def get(self, name: str) -> Tool | None:
        return self._tools.get(name)

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    def definitions(self, names: Iterable[str] | None = None) -> list[ToolDefinition]:
        """Definitions of the named tools (all when None); unknown names raise."""
        wanted = self.names() if names is None else list(dict.fromkeys(names))
        unknown = [n for n in wanted if n not in self._tools]
        if unknown:
            raise UnknownToolError(f"unknown tools {unknown}; registered tools are {self.names()}")
        return [self._tools[n].definition for n in wanted]

    def invoke(
        self,
        call: ToolCall,
        *,
        timeout_seconds: float,
        max_output_chars: int,
        instance_id: str = "",
    ) -> ToolResult:
        """Run one call; every failure becomes that call's error output (never raises)."""
        started = time.monotonic()
        tool = self._tools.get(call.name)
        if tool is None:
            text = f"unknown tool {call.name!r}; available tools: {', '.join(self.names())}"
            return _failure(
                call, text, started=started, max_chars=max_output_chars, instance_id=instance_id
            )
        try:
            kwargs = _arguments(tool, call)
        except _BadCall as bad:
            return _failure(
                call, str(bad), started=started, max_chars=max_output_chars, instance_id=instance_id
            )

        outcome = _run_with_timeout(tool, kwargs, timeout_seconds)
        if isinstance(outcome, _TimedOut):
            text = f"{tool.name} did not finish within {timeout_seconds:g} s"
            return _failure(
                call, text, started=started, max_chars=max_output_chars, instance_id=instance_id
            )
        if isinstance(outcome, _Raised):
            error = outcome.error
            if isinstance(error, ToolArgumentError):
                text = f"invalid arguments for {tool.name}: {error}"
            else:
                text = f"{tool.name} failed: {type(error).__name__}: {error}"
            return _failure(
                call,
                text,
                started=started,
                max_chars=max_output_chars,
                instance_id=instance_id,
                error=error,
            )
        try:
            output = serialise_output(outcome.value)
        except (TypeError, ValueError) as error:
            text = f"{tool.name} returned a value that is not JSON-serialisable: {error}"
            return _failure(
                call, text, started=started, max_chars=max_output_chars, instance_id=instance_id
            )
        run_log(logger, instance_id).info(
            "tool %s (call %s) ok in %d ms", tool.name, call.call_id, _elapsed_ms(started)
        )
        return ToolResult(
            call_id=call.call_id,
            name=call.name,
            output=truncate(output, max_output_chars),
            ok=True,
            duration_ms=_elapsed_ms(started),
        )


def build_tool(
    func: Callable[..., Any], *, name: str | None = None, description: str | None = None
) -> Tool:
    """Derive a Tool (argument model, description) from a function's signature."""
    tool_name = name or func.__name__
    if not TOOL_NAME.match(tool_name):
        raise ToolDefinitionError(
            f"tool name {tool_name!r} must be 1-64 letters, digits, '_' or '-'"
        )
    summary, parameter_docs = parse_docstring(inspect.getdoc(func) or "")
    text = description or summary
    if not text:
        raise ToolDefinitionError(f"tool {tool_name} needs a docstring: the model reads it")

    try:
        hints = get_type_hints(func, include_extras=True)
    except NameError as error:  # a type only defined inside a function, say
        raise ToolDefinitionError(f"tool {tool_name}: cannot resolve its types: {error}") from None
    fields: dict[str, Any] = {}
    call_id_parameter: str | None = None
    for parameter in inspect.signature(func).parameters.values():
        if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            raise ToolDefinitionError(f"tool {tool_name}: *args and **kwargs are not supported")
        if parameter.kind is parameter.POSITIONAL_ONLY:
            raise ToolDefinitionError(f"tool {tool_name}: positional-only parameters")
        if parameter.name not in hints:
            raise ToolDefinitionError(
                f"tool {tool_name}: parameter {parameter.name!r} needs a type annotation"
            )
        hint = hints[parameter.name]
        if _is_call_id(hint):
            call_id_parameter = parameter.name
            continue
        doc = parameter_docs.get(parameter.name)
        annotated = Annotated[hint, Field(description=doc)] if doc else hint
        default = ... if parameter.default is parameter.empty else parameter.default
        fields[parameter.name] = (annotated, default)

    arguments = create_model(
        f"{tool_name}_arguments", __config__=ConfigDict(extra="forbid"), **fields
    )
    return Tool(tool_name, func, text, arguments, call_id_parameter)


ARGS_SECTIONS = frozenset({"Args", "Arguments", "Parameters"})
OTHER_SECTIONS = frozenset({"Returns", "Raises", "Yields", "Example", "Examples", "Note", "Notes"})
_ENTRY = re.compile(r"^(\w+)\s*(?:\([^)]*\))?:\s*(.*)$")


def parse_docstring(doc: str) -> tuple[str, dict[str, str]]:
    """Split a (dedented) Google-style docstring into its description and `Args:` entries.

    The description is the text before the first section; `Returns:` and the like
    are left out (the model does not need them).
    """
    description: list[str] = []
    parameters: dict[str, str] = {}
    section = "description"
    entry_indent: int | None = None
    current: str | None = None
    for line in doc.splitlines():
        stripped = line.strip()
        if not line[:1].isspace() and stripped.endswith(":"):
            header = stripped[:-1]
            if header in ARGS_SECTIONS or header in OTHER_SECTIONS:
                section = "args" if header in ARGS_SECTIONS else "other"
                entry_indent, current = None, None
                continue
        if section == "description":
            description.append(line)
        elif section == "args" and stripped:
            indent = len(line) - len(line.lstrip())
            entry_indent = indent if entry_indent is None else entry_indent
            entry = _ENTRY.match(stripped)
            if indent <= entry_indent and entry:
                current = entry.group(1)
                parameters[current] = entry.group(2)
            elif current is not None:
                parameters[current] = f"{parameters[current]} {stripped}".strip()
    return "\n".join(description).strip(), parameters


def serialise_output(value: Any) -> str:
    """A tool's return value as the text the model reads: strings as-is, else JSON."""
    if isinstance(value, str):
        return value
    return json.dumps(to_jsonable_python(value), ensure_ascii=False)


def truncate(text: str, max_chars: int) -> str:
    """`text` cut to at most `max_chars`, with a visible marker when it was cut."""
    if len(text) <= max_chars:
        return text
    marker = f"\n[truncated: the output was {len(text)} characters]"
    keep = max(0, max_chars - len(marker))
    return text[:keep] + marker[: max_chars - keep]


def _qualified(func: Callable[..., Any]) -> str:
    return f"{func.__module__}.{func.__qualname__}"


def _is_call_id(hint: Any) -> bool:
    return get_origin(hint) is Annotated and any(m is CALL_ID_MARKER for m in get_args(hint)[1:])


def _schema_of(arguments: type[BaseModel]) -> dict[str, Any]:
    schema: dict[str, Any] = _without_titles(arguments.model_json_schema())
    schema.setdefault("properties", {})
    return schema


def _without_titles(schema: Any) -> Any:
    """Drop pydantic's generated `title`s (noise for the model), keep everything else."""
    if isinstance(schema, list):
        return [_without_titles(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    cleaned: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "title" and isinstance(value, str):
            continue
        if key in ("properties", "$defs", "definitions") and isinstance(value, dict):
            cleaned[key] = {name: _without_titles(sub) for name, sub in value.items()}
        else:
            cleaned[key] = _without_titles(value)
    return cleaned


class _BadCall(Exception):
    """The call cannot run: its arguments are not JSON or fail validation."""


def _arguments(tool: Tool, call: ToolCall) -> dict[str, Any]:
    text = call.arguments.strip()
    try:
        raw = json.loads(text) if text else {}
    except json.JSONDecodeError as error:
        raise _BadCall(f"arguments for {tool.name} are not valid JSON: {error}") from None
    if not isinstance(raw, dict):
        raise _BadCall(f"arguments for {tool.name} must be a JSON object")
    try:
        validated = tool.arguments.model_validate(raw)
    except ValidationError as error:
        detail = describe_validation_error(error)
        raise _BadCall(f"invalid arguments for {tool.name}: {detail}") from None
    kwargs = {name: getattr(validated, name) for name in type(validated).model_fields}
    if tool.call_id_parameter is not None:
        kwargs[tool.call_id_parameter] = call.call_id
    return kwargs


@dataclass(frozen=True)
class _Returned:
    value: Any


@dataclass(frozen=True)
class _Raised:
    error: BaseException


class _TimedOut:
    pass


def _run_with_timeout(
    tool: Tool, kwargs: dict[str, Any], timeout_seconds: float
) -> _Returned | _Raised | _TimedOut:
    """Run the tool on its own daemon thread and wait at most `timeout_seconds`.

    Python cannot kill a thread: a tool that overruns is abandoned (its result is
    ignored) and the model is told it timed out. Async tools run on their own loop.
    """
    box: list[_Returned | _Raised] = []

    def target() -> None:
        try:
            result = tool.func(**kwargs)
            if inspect.iscoroutine(result):
                result = asyncio.run(result)
            box.append(_Returned(result))
        except Exception as error:
            box.append(_Raised(error))

    thread = threading.Thread(target=target, name=f"tool-{tool.name}", daemon=True)
    thread.start()
    thread.join(timeout_seconds)
    if thread.is_alive():
        return _TimedOut()
    return box[0] if box else _Raised(RuntimeError("the tool stopped without a result"))


def _elapsed_ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


def _failure(
    call: ToolCall,
    text: str,
    *,
    started: float,
    max_chars: int,
    instance_id: str,
    error: BaseException | None = None,
) -> ToolResult:
    """An error text as the call's output, logged with the instance id."""
    run_log(logger, instance_id).warning(
        "tool call %s (%s) returned an error: %s",
        call.call_id,
        call.name,
        text,
        exc_info=None if isinstance(error, ToolArgumentError) else error,
    )
    return ToolResult(
        call_id=call.call_id,
        name=call.name,
        output=truncate(ERROR_PREFIX + text, max_chars),
        ok=False,
        duration_ms=_elapsed_ms(started),
    )


default_registry = ToolRegistry()
"""The app's registry: `@tool` registers here; the activities run from it."""

tool = default_registry.tool
