"""The activities: registered under their exact names, JSON in and out, raising on bad input."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from pydantic import ValidationError

import activities
from durable_assistant.backends import AssistantsBackend, ResponsesBackend
from durable_assistant.model import Backend, ToolCall, ToolInvocation, ToolResult
from durable_assistant.objects import MemoryRecorder
from durable_assistant.service import backend_for
from durable_assistant.settings import get_settings
from durable_assistant.tools import default_registry

ACTIVITY_NAMES = {
    "start_run",
    "poll_run",
    "run_tool",
    "submit_tool_outputs",
    "cancel_run",
    "teardown_run",
}


def invocation(name: str, arguments: object, allowed: list[str] | None = None) -> dict[str, object]:
    call = ToolCall(call_id="call_1", name=name, arguments=json.dumps(arguments))
    allowed_tools = allowed if allowed is not None else [name]
    return ToolInvocation(instance_id="inst-1", call=call, allowed_tools=allowed_tools).to_json()


@pytest.fixture
def huge_tool() -> Iterator[str]:
    @default_registry.tool
    def huge_output_for_tests() -> str:
        """Returns a lot of text."""
        return "z" * 10_000

    yield "huge_output_for_tests"
    default_registry.unregister("huge_output_for_tests")


def test_every_activity_is_on_the_blueprint_with_an_activity_trigger() -> None:
    functions = {
        fb._function.get_function_name(): fb._function for fb in activities.bp._function_builders
    }
    assert set(functions) == ACTIVITY_NAMES
    for function in functions.values():
        bindings = function.get_bindings()
        assert [b.type for b in bindings] == ["activityTrigger"]
        assert bindings[0].name == "payload"


def test_run_tool_runs_the_seed_tool(app_env: pytest.MonkeyPatch) -> None:
    payload = invocation("get_flights", {"date_1": "2015-04-24", "date_2": "2021-04-04"})
    result = ToolResult.from_json(activities.run_tool(payload))
    assert (result.ok, result.output, result.call_id) == (True, '{"flights": 2172}', "call_1")


def test_a_tool_outside_the_allowed_list_is_refused_as_its_output(
    app_env: pytest.MonkeyPatch,
) -> None:
    payload = invocation(
        "get_flights", {"date_1": "x", "date_2": "y"}, allowed=["my_cat_born_date"]
    )
    result = ToolResult.from_json(activities.run_tool(payload))
    assert not result.ok
    assert result.output == (
        "error: tool 'get_flights' is not available in this run; available tools: my_cat_born_date"
    )


def test_tool_limits_come_from_settings(app_env: pytest.MonkeyPatch, huge_tool: str) -> None:
    app_env.setenv("TOOL_OUTPUT_MAX_CHARS", "150")
    result = ToolResult.from_json(activities.run_tool(invocation(huge_tool, {})))
    assert result.ok
    assert len(result.output) == 150
    assert "truncated" in result.output


@pytest.mark.parametrize(
    ("activity", "payload"),
    [
        (activities.run_tool, {"instance_id": "i", "call": {"name": "x"}}),
        (activities.start_run, {"instance_id": "i"}),
        (activities.poll_run, {"backend": "assistants"}),
        (activities.submit_tool_outputs, {"handle": {}, "results": []}),
        (activities.cancel_run, {}),
        (activities.teardown_run, {"backend": "nope", "instance_id": "i"}),
    ],
)
def test_malformed_input_raises(activity: object, payload: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        activity(payload)  # type: ignore[operator]


def test_backend_for_picks_the_backend_and_honours_background(
    app_env: pytest.MonkeyPatch,
) -> None:
    recorder = MemoryRecorder()
    assert isinstance(backend_for(Backend.ASSISTANTS, get_settings(), recorder), AssistantsBackend)
    responses = backend_for(Backend.RESPONSES, get_settings(), recorder)
    assert isinstance(responses, ResponsesBackend)
    assert responses._background is True
    app_env.setenv("RESPONSES_BACKGROUND", "false")
    get_settings.cache_clear()
    foreground = backend_for(Backend.RESPONSES, get_settings(), recorder)
    assert isinstance(foreground, ResponsesBackend)
    assert foreground._background is False
