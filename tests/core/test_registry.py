"""The tool registry: schema derivation, validation, and every error path."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from dataclasses import dataclass
from datetime import date
from typing import Annotated, Any

import pytest
from pydantic import BaseModel, Field

from durable_assistant.model import ToolCall, ToolResult
from durable_assistant.tools import (
    CallId,
    ToolArgumentError,
    ToolDefinitionError,
    ToolRegistry,
    UnknownToolError,
    default_registry,
)
from durable_assistant.tools.registry import parse_docstring, truncate


class Point(BaseModel):
    x: int
    title: str  # a field named like the keyword must survive the title cleanup


@dataclass
class Trip:
    day: date
    seats: list[int]


LIMITS: dict[str, Any] = {"timeout_seconds": 2.0, "max_output_chars": 1_000}


def call(name: str, arguments: Any = None, call_id: str = "call_1") -> ToolCall:
    text = arguments if isinstance(arguments, str) else json.dumps(arguments or {})
    return ToolCall(call_id=call_id, name=name, arguments=text)


@pytest.fixture
def registry() -> ToolRegistry:
    reg = ToolRegistry()

    @reg.tool
    def add(a: int, b: int = 2) -> int:
        """Add two numbers.

        Args:
            a: The first number.
            b: The second number,
                two when not given.

        Returns:
            The sum.
        """
        return a + b

    @reg.tool
    def greet(name: str, greeting: str | None = None) -> str:
        """Greet someone."""
        return f"{greeting or 'hello'}, {name}"

    @reg.tool
    def explode(reason: str) -> str:
        """Always fails."""
        raise RuntimeError(f"boom: {reason}")

    @reg.tool
    def picky(day: str) -> str:
        """Accepts only Mondays."""
        raise ToolArgumentError("day", f"{day!r} is not a Monday")

    return reg


def invoke(reg: ToolRegistry, tool_call: ToolCall, **limits: Any) -> ToolResult:
    return reg.invoke(tool_call, **{**LIMITS, **limits}, instance_id="inst-1")


# -- schema derivation --


def test_schema_is_derived_from_the_signature_and_docstring(registry: ToolRegistry) -> None:
    (add,) = registry.definitions(["add"])
    assert add.name == "add"
    assert add.description == "Add two numbers."
    assert add.parameters == {
        "type": "object",
        "properties": {
            "a": {"type": "integer", "description": "The first number."},
            "b": {
                "type": "integer",
                "default": 2,
                "description": "The second number, two when not given.",
            },
        },
        "required": ["a"],
        "additionalProperties": False,
    }


def test_optional_and_annotated_parameters(registry: ToolRegistry) -> None:
    reg = ToolRegistry()

    @reg.tool(name="weather", description="The weather somewhere.")
    def forecast(
        city: Annotated[str, Field(description="City name", min_length=2)],
        days: Annotated[int, Field(ge=1, le=7)] = 1,
    ) -> str:
        """Ignored: the decorator's description wins."""
        return city

    (weather,) = reg.definitions()
    assert weather.name == "weather"
    assert weather.description == "The weather somewhere."
    props = weather.parameters["properties"]
    assert props["city"] == {"type": "string", "description": "City name", "minLength": 2}
    assert props["days"] == {"type": "integer", "minimum": 1, "maximum": 7, "default": 1}
    (greet,) = registry.definitions(["greet"])
    assert greet.parameters["required"] == ["name"]
    assert greet.parameters["properties"]["greeting"]["anyOf"] == [
        {"type": "string"},
        {"type": "null"},
    ]


def test_a_model_parameter_keeps_its_nested_schema() -> None:
    reg = ToolRegistry()

    @reg.tool
    def plot(point: Point) -> str:
        """Plot a point."""
        return point.title

    (plot_def,) = reg.definitions()
    assert plot_def.parameters["$defs"]["Point"]["properties"] == {
        "x": {"type": "integer"},
        "title": {"type": "string"},
    }
    result = invoke(reg, call("plot", {"point": {"x": 1, "title": "here"}}))
    assert (result.ok, result.output) == (True, "here")


def test_the_call_id_parameter_is_hidden_from_the_schema_and_passed_in() -> None:
    reg = ToolRegistry()
    seen: list[str] = []

    @reg.tool
    def book(seat: str, idempotency_key: CallId) -> str:
        """Book a seat once per call."""
        seen.append(idempotency_key)
        return seat

    (book_def,) = reg.definitions()
    assert list(book_def.parameters["properties"]) == ["seat"]
    assert book_def.parameters["required"] == ["seat"]
    result = invoke(reg, call("book", {"seat": "4A"}, call_id="call_xyz"))
    assert result.ok
    assert seen == ["call_xyz"]
    # The model cannot smuggle the key in as an argument.
    smuggled = invoke(reg, call("book", {"seat": "4A", "idempotency_key": "mine"}))
    assert not smuggled.ok
    assert "idempotency_key" in smuggled.output


def test_the_default_registry_has_the_seed_tools() -> None:
    assert {"get_flights", "my_cat_born_date"} <= set(default_registry.names())
    flights, cat = default_registry.definitions(["get_flights", "my_cat_born_date"])
    assert flights.parameters["required"] == ["date_1", "date_2"]
    assert cat.parameters["required"] == ["cat_name"]
    assert flights.description and cat.description


def test_definitions_of_unknown_tools_raise(registry: ToolRegistry) -> None:
    with pytest.raises(UnknownToolError, match="delete_everything"):
        registry.definitions(["add", "delete_everything"])


@pytest.mark.parametrize(
    ("doc", "summary", "params"),
    [
        ("Just a line.", "Just a line.", {}),
        (
            "Two lines\nof text.\n\nArgs:\n    x (int): The x.\n    y: The y\n        continued.",
            "Two lines\nof text.",
            {"x": "The x.", "y": "The y continued."},
        ),
        ("Do it.\n\nRaises:\n    ValueError: never.", "Do it.", {}),
    ],
)
def test_docstring_parsing(doc: str, summary: str, params: dict[str, str]) -> None:
    assert parse_docstring(doc) == (summary, params)


# -- definition errors --


def test_a_tool_needs_a_docstring() -> None:
    def undocumented(x: int) -> int:
        return x

    with pytest.raises(ToolDefinitionError, match="docstring"):
        ToolRegistry().register(undocumented)


def test_a_tool_needs_annotations() -> None:
    def untyped(x):  # type: ignore[no-untyped-def]
        """No types."""
        return x

    with pytest.raises(ToolDefinitionError, match="annotation"):
        ToolRegistry().register(untyped)


def test_varargs_are_refused() -> None:
    def variadic(*names: str) -> str:
        """Too loose."""
        return ""

    with pytest.raises(ToolDefinitionError, match="args"):
        ToolRegistry().register(variadic)


def test_types_that_cannot_be_resolved_are_refused() -> None:
    class Local:
        pass

    def local(x: Local) -> str:
        """Uses a class defined in a function (invisible to annotations as strings)."""
        return ""

    with pytest.raises(ToolDefinitionError, match="cannot resolve"):
        ToolRegistry().register(local)


def test_a_bad_name_is_refused() -> None:
    def fine(x: int) -> int:
        """Fine."""
        return x

    with pytest.raises(ToolDefinitionError, match="name"):
        ToolRegistry().register(fine, name="not allowed!")


def test_a_name_cannot_be_taken_twice_but_the_same_function_may_reregister() -> None:
    reg = ToolRegistry()

    def first(x: int) -> int:
        """First."""
        return x

    def second(x: int) -> int:
        """Second."""
        return x

    reg.register(first, name="same")
    reg.register(first, name="same")  # a module reload re-registers the same function
    with pytest.raises(ToolDefinitionError, match="already taken"):
        reg.register(second, name="same")


# -- invocation --


def test_arguments_are_validated_and_the_tool_runs(registry: ToolRegistry) -> None:
    result = invoke(registry, call("add", {"a": 40}))
    assert result == ToolResult(
        call_id="call_1", name="add", output="42", ok=True, duration_ms=result.duration_ms
    )
    assert invoke(registry, call("add", '{"a": 1, "b": 2}')).output == "3"
    assert invoke(registry, call("greet", {"name": "Tom"})).output == "hello, Tom"


def test_empty_arguments_mean_no_arguments() -> None:
    reg = ToolRegistry()

    @reg.tool
    def now() -> str:
        """No parameters."""
        return "now"

    assert invoke(reg, call("now", "")).output == "now"
    assert reg.definitions()[0].parameters == {
        "type": "object",
        "properties": {},
        "additionalProperties": False,
    }


def test_an_unknown_tool_is_an_error_output(registry: ToolRegistry) -> None:
    result = invoke(registry, call("delete_everything", {}))
    assert not result.ok
    assert result.output.startswith("error: unknown tool 'delete_everything'")
    assert "add" in result.output


@pytest.mark.parametrize("name", ["__import__", "eval", "print", "json.dumps", "os.system"])
def test_only_registered_names_run_never_builtins_or_globals(
    registry: ToolRegistry, name: str
) -> None:
    result = invoke(registry, call(name, {}))
    assert not result.ok
    assert "unknown tool" in result.output


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "must be a JSON object"),
        ('"a string"', "must be a JSON object"),
        ("{}", "a: Field required"),
        ('{"a": "many"}', "a: Input should be a valid integer"),
        ('{"a": 1, "c": 3}', "c: Extra inputs are not permitted"),
    ],
)
def test_bad_arguments_are_error_outputs_naming_the_field(
    registry: ToolRegistry, arguments: str, expected: str
) -> None:
    result = invoke(registry, call("add", arguments))
    assert not result.ok
    assert result.output.startswith("error: ")
    assert expected in result.output


def test_a_tool_that_raises_is_an_error_output(
    registry: ToolRegistry, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        result = invoke(registry, call("explode", {"reason": "testing"}))
    assert not result.ok
    assert result.output == "error: explode failed: RuntimeError: boom: testing"
    assert any("inst-1" in r.getMessage() and "explode" in r.getMessage() for r in caplog.records)


def test_a_tool_argument_error_reads_like_a_validation_error(registry: ToolRegistry) -> None:
    result = invoke(registry, call("picky", {"day": "Tuesday"}))
    assert not result.ok
    assert result.output == "error: invalid arguments for picky: day: 'Tuesday' is not a Monday"


def test_a_tool_that_overruns_its_time_limit_is_an_error_output() -> None:
    reg = ToolRegistry()
    release = threading.Event()

    @reg.tool
    def slow() -> str:
        """Waits to be released."""
        release.wait(5)
        return "late"

    try:
        result = invoke(reg, call("slow"), timeout_seconds=0.05)
    finally:
        release.set()
    assert not result.ok
    assert result.output == "error: slow did not finish within 0.05 s"
    assert result.duration_ms >= 50


def test_an_async_tool_is_awaited() -> None:
    reg = ToolRegistry()

    @reg.tool
    async def later(x: int) -> dict[str, int]:
        """Async tools work too."""
        await asyncio.sleep(0)
        return {"x": x}

    assert invoke(reg, call("later", {"x": 3})).output == '{"x": 3}'


def test_non_string_output_is_serialised_to_json() -> None:
    reg = ToolRegistry()

    @reg.tool
    def trip() -> Trip:
        """A dataclass with a date."""
        return Trip(day=date(2021, 4, 4), seats=[1, 2])

    @reg.tool
    def nothing() -> None:
        """Returns None."""

    @reg.tool
    def unicode() -> dict[str, str]:
        """Non-ASCII stays readable."""
        return {"cat": "Mikeš"}

    assert json.loads(invoke(reg, call("trip")).output) == {"day": "2021-04-04", "seats": [1, 2]}
    assert invoke(reg, call("nothing")).output == "null"
    assert invoke(reg, call("unicode")).output == '{"cat": "Mikeš"}'


def test_output_that_cannot_be_serialised_is_an_error_output() -> None:
    reg = ToolRegistry()

    @reg.tool
    def opaque() -> object:
        """Returns something JSON cannot express."""
        return object()

    result = invoke(reg, call("opaque"))
    assert not result.ok
    assert "not JSON-serialisable" in result.output


def test_long_output_is_cut_with_a_visible_marker() -> None:
    reg = ToolRegistry()

    @reg.tool
    def chatty() -> str:
        """Too much text."""
        return "x" * 5_000

    result = invoke(reg, call("chatty"), max_output_chars=200)
    assert result.ok
    assert len(result.output) == 200
    assert result.output.startswith("x" * 100)
    assert result.output.endswith("[truncated: the output was 5000 characters]")


def test_truncate_leaves_short_text_alone() -> None:
    assert truncate("short", 100) == "short"
    assert truncate("y" * 100, 100) == "y" * 100
    assert len(truncate("y" * 101, 100)) == 100


def test_long_error_text_is_cut_too() -> None:
    reg = ToolRegistry()

    @reg.tool
    def loud() -> str:
        """Fails verbosely."""
        raise ValueError("e" * 10_000)

    result = invoke(reg, call("loud"), max_output_chars=300)
    assert not result.ok
    assert len(result.output) == 300
    assert "truncated" in result.output
