"""Domain-model values cross activity boundaries as JSON: losslessly, and strictly."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from durable_assistant.model import (
    SCHEMA_VERSION,
    Backend,
    Model,
    RunHandle,
    RunPlan,
    RunRequest,
    RunResult,
    RunState,
    RunStatus,
    StartInput,
    Step,
    SubmitInput,
    TeardownReport,
    ToolCall,
    ToolInvocation,
    ToolResult,
    Usage,
    describe_validation_error,
)
from durable_assistant.tools.builtin import SEED_QUESTION

PLAN = RunPlan(
    question=SEED_QUESTION,
    backend=Backend.ASSISTANTS,
    instructions="Use the functions.",
    tools=["get_flights", "my_cat_born_date"],
    model="gpt-test",
    deadline_seconds=600,
    poll_initial_ms=500,
    poll_max_ms=5_000,
)
HANDLE = RunHandle(
    backend=Backend.ASSISTANTS,
    instance_id="inst-1",
    assistant_id="asst_1",
    created_assistant=True,
    thread_id="thread_1",
    run_id="run_1",
)
CALL = ToolCall(call_id="call_1", name="my_cat_born_date", arguments='{"cat_name": "Mike"}')
RESULT = ToolResult(call_id="call_1", name="my_cat_born_date", output="{}", duration_ms=3)

VALUES: list[Model] = [
    RunRequest(question="q", backend=Backend.RESPONSES, tools=["get_flights"]),
    PLAN,
    HANDLE,
    RunHandle(backend=Backend.RESPONSES, instance_id="i").with_response("resp_1"),
    StartInput(instance_id="inst-1", plan=PLAN),
    StartInput(instance_id="inst-1", plan=PLAN, handle=HANDLE),
    ToolInvocation(instance_id="inst-1", call=CALL, allowed_tools=["my_cat_born_date"]),
    SubmitInput(handle=HANDLE, results=[RESULT]),
    Step(handle=HANDLE, state=RunState(status=RunStatus.PENDING, poll_after_ms=250)),
    Step(handle=HANDLE, state=RunState(status=RunStatus.REQUIRES_ACTION, tool_calls=[CALL])),
    Step(
        handle=HANDLE,
        state=RunState(
            status=RunStatus.COMPLETED,
            answer="2172",
            usage=Usage(prompt_tokens=10, completion_tokens=5, total_tokens=15),
        ),
    ),
    Step(handle=HANDLE, state=RunState(status=RunStatus.THROTTLED, retry_after_seconds=6.5)),
    Step(handle=HANDLE, state=RunState(status=RunStatus.EXPIRED, reason="expired")),
    TeardownReport(deleted=["thread_1"], already_gone=["asst_1"], failed=[]),
    RunResult(
        outcome="completed",
        answer="2172",
        backend=Backend.ASSISTANTS,
        started_at="2026-11-25T00:00:00Z",
        finished_at="2026-11-25T00:00:09Z",
        handle=HANDLE,
        teardown=TeardownReport(deleted=["thread_1"]),
    ),
]


@pytest.mark.parametrize("value", VALUES, ids=lambda v: type(v).__name__)
def test_round_trip_through_json_text(value: Model) -> None:
    data = value.to_json()
    text = json.dumps(data)  # what the Durable extension stores
    assert type(value).from_json(json.loads(text)) == value
    assert type(value).from_json(text) == value


def test_with_response_chains_ids_once() -> None:
    handle = RunHandle(backend=Backend.RESPONSES, instance_id="i")
    handle = handle.with_response("r1").with_response("r2").with_response("r2")
    assert handle.response_id == "r2"
    assert handle.response_ids == ["r1", "r2"]


def test_usage_adds_up() -> None:
    total = Usage(prompt_tokens=1, completion_tokens=2, total_tokens=3) + Usage(
        prompt_tokens=10, completion_tokens=20, total_tokens=30
    )
    assert total == Usage(prompt_tokens=11, completion_tokens=22, total_tokens=33)


@pytest.mark.parametrize(
    ("model", "data", "field"),
    [
        (
            RunHandle,
            {"backend": "assistants", "instance_id": "i", "schema_version": 99},
            "schema_version",
        ),
        (RunHandle, {"backend": "chat", "instance_id": "i"}, "backend"),
        (RunHandle, {"backend": "assistants"}, "instance_id"),
        (ToolCall, {"call_id": "", "name": "x"}, "call_id"),
        (
            ToolInvocation,
            {"instance_id": "i", "call": {"name": "x"}, "allowed_tools": []},
            "call.call_id",
        ),
        (RunState, {"status": "throttled", "retry_after_seconds": -1}, "retry_after_seconds"),
        (
            SubmitInput,
            {"handle": {"backend": "responses", "instance_id": "i"}, "results": "no"},
            "results",
        ),
        (
            StartInput,
            {"instance_id": "i", "plan": {**PLAN.to_json(), "poll_initial_ms": 1}},
            "plan.poll_initial_ms",
        ),
    ],
)
def test_malformed_input_is_rejected_naming_the_field(
    model: type[Model], data: dict[str, object], field: str
) -> None:
    with pytest.raises(ValidationError) as raised:
        model.from_json(data)
    assert describe_validation_error(raised.value).startswith(f"{field}: ")


def test_stored_payloads_read_fields_they_do_not_know_as_absent() -> None:
    """A newer deploy may have added a field to what history holds: still readable."""
    data = {**HANDLE.to_json(), "conversation_id": "c1"}
    assert RunHandle.from_json(data) == HANDLE
    step = Step(handle=HANDLE, state=RunState(status=RunStatus.PENDING)).to_json()
    step["state"] |= {"progress_percent": 40}
    assert Step.from_json(step).state == RunState(status=RunStatus.PENDING)


def test_stored_payloads_carry_their_schema_version() -> None:
    assert HANDLE.to_json()["schema_version"] == SCHEMA_VERSION
    written_before_versions = {k: v for k, v in HANDLE.to_json().items() if k != "schema_version"}
    assert RunHandle.from_json(written_before_versions) == HANDLE


def test_malformed_json_text_is_rejected() -> None:
    with pytest.raises(ValidationError):
        RunHandle.from_json('{"backend": "assistants", ')


def test_values_are_immutable() -> None:
    with pytest.raises(ValidationError):
        HANDLE.run_id = "other"  # type: ignore[misc]
