"""The activities: registered under their exact names, JSON in and out, raising on bad input."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from pydantic import ValidationError

import activities
from durable_assistant.backends import (
    AssistantsBackend,
    CredentialsRejectedError,
    ResponsesBackend,
)
from durable_assistant.composition import AppServices
from durable_assistant.model import (
    Backend,
    TeardownReport,
    ToolCall,
    ToolInvocation,
    ToolResult,
)
from durable_assistant.objects import MemoryRecorder
from durable_assistant.outages import ServiceUnavailableError
from durable_assistant.service import backend_for
from durable_assistant.tools import default_registry
from emulator.testing import RunningEmulator
from localrun.azurite import AzuritePorts, connection_string
from tests.support.backends import (
    DEPLOYMENT,
    SEED_TOOLS,
    emulator_settings,
    seed_start_input,
)
from tests.support.emulator_sdk import EMULATOR_KEY

ACTIVITY_NAMES = {
    "start_run",
    "poll_run",
    "run_tool",
    "submit_tool_outputs",
    "record_run_events",
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


@pytest.mark.parametrize("background", [True, False])
def test_backend_for_picks_the_backend_and_honours_background(
    emulator: RunningEmulator, clean_env: pytest.MonkeyPatch, background: bool
) -> None:
    settings = emulator_settings(emulator.url, responses_background=background)
    root = AppServices(settings, recorder=MemoryRecorder())
    assert isinstance(backend_for(Backend.ASSISTANTS, root), AssistantsBackend)
    responses = backend_for(Backend.RESPONSES, root)
    assert isinstance(responses, ResponsesBackend)

    step = responses.start(seed_start_input(Backend.RESPONSES))
    assert step.handle.response_id is not None
    started = root.clients.responses.responses.retrieve(step.handle.response_id)
    assert started.background is background


# -- end to end through `service`, against the emulator over HTTP ---------------------


def over_the_wire(activity: Callable[[dict[str, Any]], dict[str, Any]], payload: Any) -> Any:
    """Call an activity the way the host does: JSON text in, JSON text out."""
    return json.loads(json.dumps(activity(json.loads(json.dumps(payload)))))


@pytest.fixture
def emulator_env(emulator: RunningEmulator, clean_env: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """App settings naming the session's emulator (key auth, one SDK retry)."""
    clean_env.setenv("AZURE_OPENAI_ENDPOINT", emulator.url)
    clean_env.setenv("AZURE_OPENAI_DEPLOYMENT", DEPLOYMENT)
    clean_env.setenv("AZURE_OPENAI_API_KEY", EMULATOR_KEY)
    clean_env.setenv("OPENAI_MAX_RETRIES", "1")
    return clean_env


def settle(step: dict[str, Any]) -> dict[str, Any]:
    """Poll through the activity until the run is no longer pending (bounded)."""
    for _ in range(200):
        if step["state"]["status"] != "pending":
            return step
        time.sleep(min(step["state"]["poll_after_ms"] or 20, 200) / 1000)
        step = over_the_wire(activities.poll_run, step["handle"])
    raise AssertionError(f"still pending: {step}")


@pytest.mark.parametrize("kind", list(Backend), ids=lambda b: b.value)
def test_the_seed_scenario_through_the_activities(
    emulator_env: pytest.MonkeyPatch, emulator: RunningEmulator, kind: Backend
) -> None:
    start = seed_start_input(kind, instance_id="inst-activities")
    step = settle(over_the_wire(activities.start_run, start.to_json()))
    outputs: list[dict[str, Any]] = []
    for _ in range(5):
        if step["state"]["status"] != "requires_action":
            break
        results = [
            over_the_wire(
                activities.run_tool,
                {"instance_id": start.instance_id, "call": call, "allowed_tools": SEED_TOOLS},
            )
            for call in step["state"]["tool_calls"]
        ]
        outputs += results
        submit = {"handle": step["handle"], "results": results}
        step = settle(over_the_wire(activities.submit_tool_outputs, submit))

    assert step["state"]["status"] == "completed"
    assert [r["name"] for r in outputs] == ["my_cat_born_date", "get_flights"]
    assert all(r["ok"] for r in outputs)
    flights = json.loads(outputs[-1]["output"])["flights"]
    assert str(flights) in step["state"]["answer"]
    assert sum(emulator.live().values()) > 0

    report = TeardownReport.from_json(over_the_wire(activities.teardown_run, step["handle"]))

    assert report.deleted
    assert report.failed == []
    assert set(emulator.live().values()) == {0}


@pytest.mark.parametrize("kind", list(Backend), ids=lambda b: b.value)
def test_a_throttle_comes_back_as_a_state_and_cancel_ends_the_run(
    emulator_env: pytest.MonkeyPatch, emulator: RunningEmulator, kind: Backend
) -> None:
    start = seed_start_input(kind, instance_id="inst-throttled")
    step = settle(over_the_wire(activities.start_run, start.to_json()))
    assert step["state"]["status"] == "requires_action"
    emulator.configure(retry_after=None, retry_after_ms=25, faults=[{"fault": "429", "count": 2}])

    throttled = over_the_wire(activities.poll_run, step["handle"])

    assert throttled["state"]["status"] == "throttled"
    assert throttled["state"]["retry_after_seconds"] == pytest.approx(0.025)
    assert throttled["handle"] == step["handle"]

    cancelled = settle(over_the_wire(activities.cancel_run, step["handle"]))
    assert cancelled["state"]["status"] == "cancelled"
    over_the_wire(activities.teardown_run, cancelled["handle"])
    assert set(emulator.live().values()) == {0}


@pytest.mark.parametrize("kind", list(Backend), ids=lambda b: b.value)
def test_teardown_needs_only_the_instance_when_a_result_was_lost(
    emulator_env: pytest.MonkeyPatch, emulator: RunningEmulator, kind: Backend
) -> None:
    """The host lost a start activity's result: the recorder still knows what it made."""
    start = seed_start_input(kind, instance_id="inst-lost")
    over_the_wire(activities.start_run, start.to_json())
    assert sum(emulator.live().values()) > 0

    bare = {"backend": kind.value, "instance_id": start.instance_id}
    report = TeardownReport.from_json(over_the_wire(activities.teardown_run, bare))

    assert report.deleted
    assert report.failed == []
    assert set(emulator.live().values()) == {0}


# -- outages: named for the orchestration, which waits them out -----------------------


@pytest.mark.parametrize(
    ("fault", "reason"),
    [("503", "Azure OpenAI answered 503"), ("drop", "Azure OpenAI could not be reached")],
)
def test_an_outage_of_the_model_service_fails_a_model_call_as_unavailable(
    emulator_env: pytest.MonkeyPatch, emulator: RunningEmulator, fault: str, reason: str
) -> None:
    start = seed_start_input(Backend.RESPONSES, instance_id="inst-outage")
    step = settle(over_the_wire(activities.start_run, start.to_json()))
    emulator.configure(faults=[{"fault": fault, "count": 2}])  # the SDK's retry too

    with pytest.raises(ServiceUnavailableError) as caught:
        over_the_wire(activities.poll_run, step["handle"])

    assert str(caught.value) == reason  # no host, port, body or SDK text
    over_the_wire(activities.teardown_run, step["handle"])


def test_refused_credentials_are_not_an_outage(
    emulator_env: pytest.MonkeyPatch, emulator: RunningEmulator
) -> None:
    start = seed_start_input(Backend.RESPONSES, instance_id="inst-refused")
    emulator.configure(faults=[{"fault": "401", "count": 1}])

    with pytest.raises(CredentialsRejectedError):
        over_the_wire(activities.start_run, start.to_json())


def test_an_unreachable_storage_fails_a_model_call_as_unavailable(
    emulator_env: pytest.MonkeyPatch,
) -> None:
    dead = connection_string(AzuritePorts.free())
    emulator_env.setenv("AzureWebJobsStorage", dead)
    start = seed_start_input(Backend.RESPONSES, instance_id="inst-no-storage")

    with pytest.raises(ServiceUnavailableError) as caught:
        over_the_wire(activities.start_run, start.to_json())

    assert str(caught.value) == "the app's storage could not be reached"
