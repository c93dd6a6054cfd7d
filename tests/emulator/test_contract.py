"""Contract: every body the emulator serves, for each endpoint the app uses and each
status, validates against the OpenAPI schemas (vendored from openai-openapi, see
tests/emulator/openapi/README.md), or against Azure's own shapes where OpenAI's
description is silent (the gateway's errors, content filtering)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from emulator.testing import RunningEmulator, running_emulator
from tests.support.emulator_sdk import ASSISTANT_TOOLS, QUESTION, RESPONSE_TOOLS, run_tool

EMULATOR_KEY = "contract-key"
DATED = "2024-05-01-preview"


def _nullable(node: Any) -> Any:
    """OpenAPI 3.0's `nullable: true` (which the description still uses) as JSON Schema:
    the type, or an enum, that also admits null."""
    if isinstance(node, list):
        return [_nullable(value) for value in node]
    if not isinstance(node, dict):
        return node
    schema = {key: _nullable(value) for key, value in node.items() if key != "nullable"}
    if node.get("nullable") is True:
        if isinstance(schema.get("type"), str):
            schema["type"] = [schema["type"], "null"]
        if isinstance(schema.get("enum"), list):
            schema["enum"] = [*schema["enum"], None]
        if "type" not in schema and "enum" not in schema:
            schema = {"anyOf": [schema, {"type": "null"}]}
    return schema


SPEC: dict[str, Any] = _nullable(
    json.loads(
        (Path(__file__).parent / "openapi" / "openai-schemas.json").read_text(encoding="utf-8")
    )
)

AZURE_GATEWAY_ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
            "additionalProperties": False,
        }
    },
    "additionalProperties": False,
}
"""`AzureErrorResponse` of Azure's v1 spec, as the gateway sends it (code and message)."""

_RESULT = {
    "type": "object",
    "required": ["filtered", "severity"],
    "properties": {
        "filtered": {"type": "boolean"},
        "severity": {"enum": ["safe", "low", "medium", "high"]},
    },
}
FILTER_RESULTS = {
    "type": "object",
    "required": ["hate", "sexual", "violence", "self_harm"],
    "additionalProperties": _RESULT,
}
AZURE_CONTENT_FILTER_ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message", "param", "status", "innererror"],
            "properties": {
                "code": {"const": "content_filter"},
                "message": {"type": "string"},
                "param": {"const": "prompt"},
                "status": {"const": 400},
                "innererror": {
                    "type": "object",
                    "required": ["code", "content_filter_result"],
                    "properties": {
                        "code": {"const": "ResponsibleAIPolicyViolation"},
                        "content_filter_result": FILTER_RESULTS,
                    },
                },
            },
        }
    },
}
"""Azure's 400 for a filtered prompt (`ErrorResponse` with `innererror`, inference spec)."""


def errors_against(schema: str | dict[str, Any], body: Any) -> list[ValidationError]:
    """Every way `body` breaks the schema (a vendored component by name, or a schema)."""
    if isinstance(schema, str):
        root: dict[str, Any] = {"$ref": f"#/components/schemas/{schema}", **SPEC}
    else:
        root = schema
    return list(Draft202012Validator(root).iter_errors(body))


SERVICE_NULLS = {("Response", "usage")}
"""Fields the service sends as null where the description says an object: a response's
`usage` until it has run (queued, in_progress, or cancelled before it ran)."""


def valid(schema: str | dict[str, Any], body: Any) -> None:
    pending = isinstance(body, dict) and body.get("status") in (
        "queued",
        "in_progress",
        "cancelled",
    )
    problems = [
        p
        for p in errors_against(schema, body)
        if not (
            pending
            and p.instance is None
            and (schema, ".".join(map(str, p.absolute_path))) in SERVICE_NULLS
        )
    ]
    assert not problems, [f"{list(p.absolute_path)}: {p.message}" for p in problems[:5]]


class Wire:
    """Plain HTTP to the emulator, to see the very bodies it serves."""

    def __init__(self, emu: RunningEmulator) -> None:
        self.emu = emu

    def call(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        *,
        v1: bool = False,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, Any]:
        url = f"{self.emu.url}/openai/v1{path}" if v1 else f"{self.emu.url}/openai{path}"
        params = None if v1 else {"api-version": DATED}
        answer = requests.request(
            method,
            url,
            params=params,
            json=body,
            headers={"api-key": EMULATOR_KEY, **(headers or {})},
            timeout=10,
        )
        return answer.status_code, answer.json()

    def ok(self, schema: str, method: str, path: str, body: Any = None, **options: Any) -> Any:
        """Call, expect 200, check the body against `schema`; the body."""
        status, served = self.call(method, path, body, **options)
        assert status == 200, served
        valid(schema, served)
        return served


@pytest.fixture(scope="module")
def served() -> Iterator[RunningEmulator]:
    with running_emulator(api_key=EMULATOR_KEY, poll_after_ms=1) as emu:
        yield emu


@pytest.fixture
def wire(served: RunningEmulator) -> Wire:
    served.reset()
    return Wire(served)


def outputs_for(calls: list[dict[str, Any]]) -> list[dict[str, str]]:
    return [
        {
            "tool_call_id": c["id"],
            "output": run_tool(c["function"]["name"], c["function"]["arguments"]),
        }
        for c in calls
    ]


def start_run(wire: Wire, **run: Any) -> tuple[str, dict[str, Any]]:
    assistant = wire.ok(
        "AssistantObject", "POST", "/assistants", {"model": "gpt-4o", "tools": ASSISTANT_TOOLS}
    )
    thread = wire.ok(
        "ThreadObject", "POST", "/threads", {"messages": [{"role": "user", "content": QUESTION}]}
    )
    headers = run.pop("headers", None)
    created = wire.ok(
        "RunObject",
        "POST",
        f"/threads/{thread['id']}/runs",
        {"assistant_id": assistant["id"], **run},
        headers=headers,
    )
    return thread["id"], created


def test_the_assistants_endpoints_the_app_uses(wire: Wire) -> None:
    thread_id, run = start_run(wire)
    assert run["status"] == "queued"
    run_path = f"/threads/{thread_id}/runs/{run['id']}"
    waiting = wire.ok("RunObject", "GET", run_path)
    assert waiting["status"] == "requires_action"
    wire.ok("ListRunStepsResponse", "GET", run_path + "/steps")
    calls = waiting["required_action"]["submit_tool_outputs"]["tool_calls"]
    wire.ok(
        "RunObject", "POST", run_path + "/submit_tool_outputs", {"tool_outputs": outputs_for(calls)}
    )
    waiting = wire.ok("RunObject", "GET", run_path)
    calls = waiting["required_action"]["submit_tool_outputs"]["tool_calls"]
    wire.ok(
        "RunObject", "POST", run_path + "/submit_tool_outputs", {"tool_outputs": outputs_for(calls)}
    )
    done = wire.ok("RunObject", "GET", run_path)
    assert done["status"] == "completed"
    steps = wire.ok("ListRunStepsResponse", "GET", run_path + "/steps")
    wire.ok("RunStepObject", "GET", f"{run_path}/steps/{steps['data'][0]['id']}")
    messages = wire.ok(
        "ListMessagesResponse", "GET", f"/threads/{thread_id}/messages?run_id={run['id']}"
    )
    message_id = messages["data"][0]["id"]
    wire.ok("MessageObject", "GET", f"/threads/{thread_id}/messages/{message_id}")
    wire.ok("ListRunsResponse", "GET", f"/threads/{thread_id}/runs")
    assistants = wire.ok("ListAssistantsResponse", "GET", "/assistants")
    wire.ok("DeleteMessageResponse", "DELETE", f"/threads/{thread_id}/messages/{message_id}")
    wire.ok("DeleteThreadResponse", "DELETE", f"/threads/{thread_id}")
    wire.ok("DeleteAssistantResponse", "DELETE", f"/assistants/{assistants['data'][0]['id']}")


@pytest.mark.parametrize("outcome", ["failed", "rate_limited", "expired", "incomplete"])
def test_every_forced_run_ending(wire: Wire, outcome: str) -> None:
    thread_id, run = start_run(wire, headers={"x-emulator-run-outcome": outcome})
    ended = wire.ok("RunObject", "GET", f"/threads/{thread_id}/runs/{run['id']}")
    assert ended["status"] == ("failed" if outcome == "rate_limited" else outcome)


def test_in_progress_cancelling_and_cancelled_runs(wire: Wire) -> None:
    wire.emu.configure(latency_ms=60_000)
    thread_id, run = start_run(wire)
    run_path = f"/threads/{thread_id}/runs/{run['id']}"
    assert wire.ok("RunObject", "GET", run_path)["status"] == "in_progress"
    assert wire.ok("RunObject", "POST", run_path + "/cancel")["status"] == "cancelling"
    wire.emu.configure(latency_ms=0)
    for _ in range(100):
        if wire.ok("RunObject", "GET", run_path)["status"] == "cancelled":
            return
    raise AssertionError("the run was never cancelled")


def test_a_filtered_run_differs_from_openai_only_by_its_reason(wire: Wire) -> None:
    wire.emu.configure(content_filter=[{"target": "prompt"}])
    thread_id, run = start_run(wire)
    status, ended = wire.call("GET", f"/threads/{thread_id}/runs/{run['id']}")
    assert status == 200
    problems = errors_against("RunObject", ended)
    assert [(list(p.absolute_path), p.instance) for p in problems] == [
        (["incomplete_details", "reason"], "content_filter")
    ]


def test_the_responses_endpoints_and_statuses(wire: Wire) -> None:
    first = wire.ok(
        "Response",
        "POST",
        "/responses",
        {"model": "gpt-4o", "input": QUESTION, "tools": RESPONSE_TOOLS},
        v1=True,
    )
    calls = [i for i in first["output"] if i["type"] == "function_call"]
    assert calls
    wire.ok("Response", "GET", f"/responses/{first['id']}", v1=True)
    wire.ok("ResponseItemList", "GET", f"/responses/{first['id']}/input_items", v1=True)
    outputs = [
        {
            "type": "function_call_output",
            "call_id": c["call_id"],
            "output": run_tool(c["name"], c["arguments"]),
        }
        for c in calls
    ]
    second = wire.ok(
        "Response",
        "POST",
        "/responses",
        {
            "model": "gpt-4o",
            "previous_response_id": first["id"],
            "input": outputs,
            "tools": RESPONSE_TOOLS,
        },
        v1=True,
    )
    assert second["status"] == "completed"
    for outcome, status in (("failed", "failed"), ("incomplete", "incomplete")):
        forced = wire.ok(
            "Response",
            "POST",
            "/responses",
            {"model": "m", "input": "hi"},
            v1=True,
            headers={"x-emulator-run-outcome": outcome},
        )
        assert forced["status"] == status
    wire.emu.configure(latency_ms=60_000)
    queued = wire.ok(
        "Response", "POST", "/responses", {"model": "m", "input": "hi", "background": True}, v1=True
    )
    assert queued["status"] == "queued"
    assert (
        wire.ok("Response", "GET", f"/responses/{queued['id']}", v1=True)["status"] == "in_progress"
    )
    assert (
        wire.ok("Response", "POST", f"/responses/{queued['id']}/cancel", v1=True)["status"]
        == "cancelled"
    )
    wire.emu.configure(latency_ms=0, content_filter=[{"target": "answer"}])
    filtered = wire.ok("Response", "POST", "/responses", {"model": "m", "input": "hi"}, v1=True)
    assert filtered["incomplete_details"] == {"reason": "content_filter"}
    gone = wire.call("DELETE", f"/responses/{first['id']}", v1=True)
    assert gone == (200, {"id": first["id"], "object": "response", "deleted": True})


def test_the_conversation_endpoints(wire: Wire) -> None:
    conversation = wire.ok(
        "ConversationResource", "POST", "/conversations", {"metadata": {"k": "v"}}, v1=True
    )
    wire.ok(
        "Response",
        "POST",
        "/responses",
        {"model": "m", "input": "hi", "conversation": conversation["id"]},
        v1=True,
    )
    wire.ok("ConversationResource", "GET", f"/conversations/{conversation['id']}", v1=True)
    items = wire.ok(
        "ConversationItemList", "GET", f"/conversations/{conversation['id']}/items", v1=True
    )
    wire.ok(
        "ConversationItem",
        "GET",
        f"/conversations/{conversation['id']}/items/{items['data'][0]['id']}",
        v1=True,
    )
    wire.ok(
        "DeletedConversationResource", "DELETE", f"/conversations/{conversation['id']}", v1=True
    )


def test_chat_completions(wire: Wire) -> None:
    messages = [{"role": "user", "content": QUESTION}]
    calling = wire.ok(
        "CreateChatCompletionResponse",
        "POST",
        "/chat/completions",
        {
            "model": "m",
            "messages": messages,
            "tools": [{"type": "function", "function": f["function"]} for f in ASSISTANT_TOOLS],
        },
        v1=True,
    )
    assert calling["choices"][0]["finish_reason"] == "tool_calls"
    answer = wire.ok(
        "CreateChatCompletionResponse",
        "POST",
        "/chat/completions",
        {"model": "m", "messages": [{"role": "user", "content": "hi"}]},
        v1=True,
    )
    assert answer["choices"][0]["finish_reason"] == "stop"
    for body in (calling, answer):
        valid(
            {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {"content_filter_results": FILTER_RESULTS},
                },
            },
            body["prompt_filter_results"],
        )
    wire.emu.configure(content_filter=[{"target": "answer"}])
    filtered = wire.ok(
        "CreateChatCompletionResponse",
        "POST",
        "/chat/completions",
        {"model": "m", "messages": [{"role": "user", "content": "hi"}]},
        v1=True,
    )
    assert filtered["choices"][0]["finish_reason"] == "content_filter"
    valid(FILTER_RESULTS, filtered["choices"][0]["content_filter_results"])


def test_error_bodies(wire: Wire) -> None:
    cases: list[tuple[int, str | dict[str, Any], tuple[Any, ...], dict[str, Any]]] = [
        (400, "ErrorResponse", ("POST", "/assistants", {}), {}),
        (404, "ErrorResponse", ("GET", "/assistants/asst_nope", None), {}),
        (404, "ErrorResponse", ("GET", "/responses/resp_nope", None), {"v1": True}),
        (
            500,
            "ErrorResponse",
            ("GET", "/assistants", None),
            {"headers": {"x-emulator-fault": "500"}},
        ),
        (
            503,
            "ErrorResponse",
            ("GET", "/assistants", None),
            {"headers": {"x-emulator-fault": "503"}},
        ),
        (
            429,
            AZURE_GATEWAY_ERROR,
            ("GET", "/assistants", None),
            {"headers": {"x-emulator-fault": "429"}},
        ),
        (401, AZURE_GATEWAY_ERROR, ("GET", "/assistants", None), {"headers": {"api-key": "wrong"}}),
        (404, AZURE_GATEWAY_ERROR, ("GET", "/nothing", None), {}),
    ]
    for status, schema, (method, path, body), options in cases:
        got, served = wire.call(method, path, body, **options)
        assert got == status, (path, served)
        valid(schema, served)
    got, served = wire.call(
        "POST", "/responses", {"model": "m", "input": "hi"}, v1=True, headers={}
    )
    wire.emu.configure(content_filter=[{"target": "prompt"}])
    got, served = wire.call("POST", "/responses", {"model": "m", "input": "hi"}, v1=True)
    assert got == 400
    valid(AZURE_CONTENT_FILTER_ERROR, served)
    answer = requests.get(
        f"{wire.emu.url}/openai/assistants",
        params={"api-version": "banana"},
        headers={"api-key": EMULATOR_KEY},
        timeout=10,
    )
    assert answer.status_code == 400
    valid(AZURE_GATEWAY_ERROR, answer.json())
