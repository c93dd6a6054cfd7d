"""The HTTP routes, called as the worker calls them, with a test double for the
durable client at the binding boundary (`tests/http/fake_durable.py`)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from azurefunctions.extensions.http.fastapi import Request, Response

from durable_assistant.api import MAX_BODY_BYTES, MAX_WAIT_SECONDS
from durable_assistant.composition import services, use_services
from durable_assistant.model import (
    Backend,
    Outcome,
    Phase,
    Progress,
    RunHandle,
    RunPlan,
    RunResult,
    ToolTrace,
    Usage,
)
from durable_assistant.run_loop import CANCEL_EVENT
from durable_assistant.tools.builtin import SEED_QUESTION
from tests.http.fake_durable import FakeDurableClient
from tests.support.api_contract import check_answer, leaks
from tests.support.asgi_requests import body_bytes, make_request
from tests.support.function_index import index_app

ORIGIN = "https://assistant.example.net"
SEED = SEED_QUESTION


@pytest.fixture(scope="module")
def functions() -> dict[str, Any]:
    return index_app()


@pytest.fixture
def app_settings(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name, value in {
        "AZURE_OPENAI_ENDPOINT": "https://example.openai.azure.com",
        "AZURE_OPENAI_DEPLOYMENT": "dep-1",
        "ASSISTANT_BACKEND": "assistants",
        "ASSISTANT_INSTRUCTIONS": "Be brief.",
        "RUN_DEADLINE_SECONDS": "300",
        "POLL_INITIAL_MS": "250",
        "POLL_MAX_MS": "4000",
        "MAX_STEPS": "7",
        "HISTORY_EVENT_LIMIT": "120",
    }.items():
        monkeypatch.setenv(name, value)
    use_services(None)
    yield
    use_services(None)


@pytest.fixture
def client() -> FakeDurableClient:
    return FakeDurableClient()


def call(
    functions: dict[str, Any],
    name: str,
    req: Request,
    client: FakeDurableClient | None = None,
) -> Response:
    """Invoke function `name` as indexed; a durable client function gets `client`.

    Every answer is held to the public contract (`check_answer`) on the way back.
    """
    user = functions[name].get_user_function()
    response: Response
    if client is None:
        response = user(req)
    else:  # the durable client binding's value is replaced, nothing else
        response = asyncio.run(user.client_function(req=req, client=client))
    headers = dict(response.headers)
    check_answer(req.method, str(req.url), response.status_code, headers, body_bytes(response))
    return response


def request(
    method: str,
    path: str,
    body: bytes | str | dict[str, Any] | list[Any] | None = None,
    params: dict[str, str] | None = None,
    route_params: dict[str, str] | None = None,
) -> Request:
    if isinstance(body, dict | list):
        body = json.dumps(body)
    if isinstance(body, str):
        body = body.encode()
    query = "&".join(f"{k}={v}" for k, v in (params or {}).items())
    return make_request(
        method,
        f"{ORIGIN}/api/{path}" + (f"?{query}" if query else ""),
        body or b"",
        headers={"content-type": "application/json"},
        path_params=route_params,
    )


def body_of(response: Response) -> Any:
    assert response.headers.get("Content-Type") == "application/json"
    return json.loads(body_bytes(response))


# -- POST /api/runs --


def test_start_answers_202_with_the_run_and_the_apps_own_urls(
    functions: dict[str, Any], client: FakeDurableClient, app_settings: None
) -> None:
    response = call(
        functions, "start_run_http", request("POST", "runs", {"question": SEED}), client
    )
    assert response.status_code == 202
    view = body_of(response)
    assert (view["id"], view["runtime_status"], view["done"]) == ("inst0001", "Pending", False)
    assert view["links"] == {
        "status": f"{ORIGIN}/api/runs/inst0001",
        "cancel": f"{ORIGIN}/api/runs/inst0001/cancel",
        "events": f"{ORIGIN}/api/runs/inst0001/events",
    }
    assert response.headers["Location"] == f"{ORIGIN}/api/runs/inst0001"
    assert int(response.headers["Retry-After"]) >= 1

    ((name, plan_json),) = client.started()
    assert name == "run_orchestrator"
    plan = RunPlan.from_json(plan_json)
    assert plan == RunPlan(
        question=SEED,
        backend=Backend.ASSISTANTS,
        instructions="Be brief.",
        tools=services().registry.names(),
        model="dep-1",
        deadline_seconds=300,
        poll_initial_ms=250,
        poll_max_ms=4000,
        max_steps=7,
        history_event_limit=120,
    )


def test_start_takes_the_request_overrides(
    functions: dict[str, Any], client: FakeDurableClient, app_settings: None
) -> None:
    body = {
        "question": "q?",
        "backend": "responses",
        "instructions": "",
        "tools": ["get_flights", "get_flights"],
        "model": "other-deployment",
        "deadline_seconds": 60,
    }
    assert (
        call(functions, "start_run_http", request("POST", "runs", body), client).status_code == 202
    )
    plan = RunPlan.from_json(client.started()[0][1])
    assert (plan.backend, plan.instructions, plan.tools, plan.model, plan.deadline_seconds) == (
        Backend.RESPONSES,
        "",
        ["get_flights"],
        "other-deployment",
        60,
    )


def test_start_with_wait_answers_200_with_the_run_when_it_ended_in_time(
    functions: dict[str, Any], client: FakeDurableClient, app_settings: None
) -> None:
    result = RunResult(
        outcome=Outcome.COMPLETED,
        answer="1860 flights",
        backend=Backend.RESPONSES,
        started_at=datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC),
        finished_at=datetime(2026, 3, 1, 12, 0, 4, tzinfo=UTC),
        version="2",
        handle=RunHandle(backend=Backend.RESPONSES, instance_id="inst0001", response_id="r1"),
    )
    client.on_start = {"complete_after_checks": 2, "pending_output": result.to_json()}
    req = request("POST", "runs", {"question": SEED}, params={"wait": "5"})
    response = call(functions, "start_run_http", req, client)
    assert response.status_code == 200
    view = body_of(response)
    assert view == get_run_body(functions, client, "inst0001")  # one shape for a run
    assert (view["id"], view["runtime_status"], view["done"]) == ("inst0001", "Completed", True)
    assert (view["outcome"], view["answer"], view["backend"]) == (
        "completed",
        "1860 flights",
        "responses",
    )
    assert (view["started_at"], view["duration_seconds"], view["version"]) == (
        "2026-03-01T12:00:00Z",
        4.0,
        "2",
    )
    assert "handle" not in view and "r1" not in body_bytes(response).decode()


@pytest.mark.parametrize(("final", "outcome"), [("Failed", "failed"), ("Terminated", "cancelled")])
def test_start_with_wait_answers_the_run_that_ended_without_result(
    functions: dict[str, Any],
    client: FakeDurableClient,
    app_settings: None,
    final: str,
    outcome: str,
) -> None:
    output = "Orchestrator function 'run_orchestrator' failed: teardown then boom"
    client.on_start = {
        "complete_after_checks": 1,
        "final_status": final,
        "pending_output": output,
    }
    req = request("POST", "runs", {"question": SEED}, params={"wait": "5"})
    response = call(functions, "start_run_http", req, client)
    assert response.status_code == 200
    view = body_of(response)
    assert view == get_run_body(functions, client, "inst0001")
    assert (view["id"], view["runtime_status"], view["done"]) == ("inst0001", final, True)
    assert view["outcome"] == outcome and view["answer"] is None
    assert "boom" in view["error"]


def test_start_with_wait_falls_back_to_202_when_not_done_in_time(
    functions: dict[str, Any], client: FakeDurableClient, app_settings: None
) -> None:
    req = request("POST", "runs", {"question": SEED}, params={"wait": "1"})
    response = call(functions, "start_run_http", req, client)
    assert response.status_code == 202
    assert body_of(response)["id"] == "inst0001"
    assert response.headers["Location"] == f"{ORIGIN}/api/runs/inst0001"
    # One status read, when the wait ran out: a run just started has nothing to show.
    assert sum(1 for method, _ in client.calls if method == "GET") == 1


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({}, "question", "is required"),
        ({"question": ""}, "question", "at least 1 character"),
        ({"question": 42}, "question", "valid string"),
        ({"question": "q", "tools": ["get_flights", "launch_rockets"]}, "tools", "launch_rockets"),
        ({"question": "q", "tools": "get_flights"}, "tools", "valid list"),
        ({"question": "q", "backend": "gemini"}, "backend", "assistants"),
        ({"question": "q", "deadline_seconds": "soon"}, "deadline_seconds", "integer"),
        ({"question": "q", "deadline_seconds": 1}, "deadline_seconds", "greater than or equal"),
        ({"question": "q", "model": ""}, "model", "at least 1 character"),
        ({"question": "q", "temperature": 2}, "temperature", "not a known field"),
        ("not json at all", "body", "not valid JSON"),
        ('["question"]', "body", "JSON object"),
        ("", "body", "JSON object"),
        (b"\xff\xfe", "body", "not valid JSON"),
    ],
)
def test_start_refuses_a_bad_body_naming_the_field(
    functions: dict[str, Any],
    client: FakeDurableClient,
    app_settings: None,
    body: Any,
    field: str,
    words: str,
) -> None:
    response = call(functions, "start_run_http", request("POST", "runs", body), client)
    assert response.status_code == 400
    error = body_of(response)
    assert error["error"] == "bad_request"
    assert error["fields"] == [field]
    assert field in error["message"] and words in error["message"]
    assert client.started() == []


def test_start_refuses_a_body_over_the_size_limit(
    functions: dict[str, Any], client: FakeDurableClient, app_settings: None
) -> None:
    body = json.dumps({"question": "x" * MAX_BODY_BYTES})
    response = call(functions, "start_run_http", request("POST", "runs", body), client)
    assert response.status_code == 400
    assert body_of(response)["fields"] == ["body"]
    assert str(MAX_BODY_BYTES) in body_of(response)["message"]
    assert client.started() == []


@pytest.mark.parametrize("wait", ["abc", "-1", str(MAX_WAIT_SECONDS + 1), "2.5"])
def test_start_refuses_a_bad_wait(
    functions: dict[str, Any], client: FakeDurableClient, app_settings: None, wait: str
) -> None:
    req = request("POST", "runs", {"question": SEED}, params={"wait": wait})
    response = call(functions, "start_run_http", req, client)
    assert response.status_code == 400
    assert body_of(response)["fields"] == ["wait"]
    assert client.started() == []


def test_start_with_missing_settings_answers_500_naming_them(
    functions: dict[str, Any], client: FakeDurableClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AZURE_OPENAI_ENDPOINT", raising=False)
    monkeypatch.setenv("AZURE_OPENAI_DEPLOYMENT", "dep-1")
    use_services(None)
    try:
        response = call(
            functions, "start_run_http", request("POST", "runs", {"question": "q"}), client
        )
    finally:
        use_services(None)
    assert response.status_code == 500
    error = body_of(response)
    assert error["error"] == "configuration_error"
    assert "AZURE_OPENAI_ENDPOINT" in error["message"]
    assert "Traceback" not in error["message"]
    assert client.started() == []


# -- GET /api/runs/{id} --


def get_run(functions: dict[str, Any], client: FakeDurableClient, instance_id: str) -> Any:
    req = request("GET", f"runs/{instance_id}", route_params={"instance_id": instance_id})
    return call(functions, "get_run_http", req, client)


def get_run_body(functions: dict[str, Any], client: FakeDurableClient, instance_id: str) -> Any:
    response = get_run(functions, client, instance_id)
    assert response.status_code == 200
    return body_of(response)


def test_status_of_an_unknown_run_is_404(
    functions: dict[str, Any], client: FakeDurableClient
) -> None:
    response = get_run(functions, client, "nope")
    assert response.status_code == 404
    assert body_of(response)["error"] == "not_found"


def test_status_while_running_shows_the_progress(
    functions: dict[str, Any], client: FakeDurableClient
) -> None:
    progress = Progress(
        phase=Phase.RUNNING_TOOLS,
        step=2,
        tool_calls=3,
        usage=Usage(prompt_tokens=5, completion_tokens=6, total_tokens=11),
        backend=Backend.ASSISTANTS,
    )
    client.add("i-1", "Running", custom_status=progress.to_json())
    view = body_of(get_run(functions, client, "i-1"))
    assert view["runtime_status"] == "Running" and view["done"] is False
    assert (view["phase"], view["steps"], view["tool_call_count"]) == ("running_tools", 2, 3)
    assert view["usage"]["total_tokens"] == 11
    assert view["answer"] is None and view["tool_calls"] == []
    assert view["created_at"].startswith("2026-03-01T12:00:00")


def test_status_between_executions_reads_as_running(
    functions: dict[str, Any], client: FakeDurableClient
) -> None:
    client.add("i-1", "ContinuedAsNew")
    assert body_of(get_run(functions, client, "i-1"))["runtime_status"] == "Running"


def test_status_when_done_has_the_answer_trace_usage_and_timings(
    functions: dict[str, Any], client: FakeDurableClient
) -> None:
    trace = ToolTrace(
        step=1, call_id="c1", name="get_flights", arguments='{"date_1": "a"}', output="{}", ok=True
    )
    result = RunResult(
        outcome=Outcome.COMPLETED,
        answer="42",
        backend=Backend.RESPONSES,
        tool_calls=[trace],
        usage=Usage(prompt_tokens=1, completion_tokens=2, total_tokens=3),
        steps=1,
        started_at=datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC),
        finished_at=datetime(2026, 3, 1, 12, 0, 2, 500_000, tzinfo=UTC),
    )
    done = Progress(phase=Phase.DONE, step=1, tool_calls=1).to_json()
    client.add("i-1", "Completed", output=result.to_json(), custom_status=done)
    view = body_of(get_run(functions, client, "i-1"))
    assert view["done"] is True and view["runtime_status"] == "Completed"
    assert (view["outcome"], view["answer"], view["error"]) == ("completed", "42", None)
    assert view["tool_calls"] == [trace.to_json()]
    assert view["usage"]["total_tokens"] == 3
    assert view["duration_seconds"] == 2.5


def test_status_of_a_run_that_ended_badly_shows_why(
    functions: dict[str, Any], client: FakeDurableClient
) -> None:
    result = RunResult(
        outcome=Outcome.DEADLINE_EXCEEDED,
        reason="the run did not finish within its deadline of 60 s",
        backend=Backend.RESPONSES,
        started_at=datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC),
        finished_at=datetime(2026, 3, 1, 12, 1, 0, tzinfo=UTC),
    )
    client.add("i-1", "Completed", output=result.to_json())
    view = body_of(get_run(functions, client, "i-1"))
    assert (view["outcome"], view["answer"]) == ("deadline_exceeded", None)
    assert "deadline" in view["error"]

    message = "Orchestrator function 'run_orchestrator' failed: poll_run failed"
    client.add("i-2", "Failed", output=message)
    view = body_of(get_run(functions, client, "i-2"))
    assert (view["runtime_status"], view["done"], view["error"]) == ("Failed", True, message)
    assert (view["outcome"], view["answer"]) == ("failed", None)


# -- POST /api/runs/{id}/cancel --


def cancel(
    functions: dict[str, Any], client: FakeDurableClient, instance_id: str, body: Any = None
) -> Any:
    req = request(
        "POST", f"runs/{instance_id}/cancel", body, route_params={"instance_id": instance_id}
    )
    return call(functions, "cancel_run_http", req, client)


def test_cancel_raises_the_event_the_orchestrator_waits_for(
    functions: dict[str, Any], client: FakeDurableClient
) -> None:
    instance = client.add("i-1", "Running")
    response = cancel(functions, client, "i-1")
    assert response.status_code == 202
    assert body_of(response) == {"id": "i-1", "status": "cancel_requested"}
    assert response.headers["Location"] == f"{ORIGIN}/api/runs/i-1"
    assert instance.events == [(CANCEL_EVENT, {"reason": None})]


def test_cancel_passes_the_callers_reason_on(
    functions: dict[str, Any], client: FakeDurableClient
) -> None:
    instance = client.add("i-1", "Running")
    assert cancel(functions, client, "i-1", {"reason": "wrong question"}).status_code == 202
    assert instance.events == [(CANCEL_EVENT, {"reason": "wrong question"})]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ("nope", "body"),
        ({"why": "x"}, "body"),
        ({"reason": 5}, "reason"),
        ({"reason": "x" * 501}, "reason"),
    ],
)
def test_cancel_refuses_a_bad_body(
    functions: dict[str, Any], client: FakeDurableClient, body: Any, field: str
) -> None:
    instance = client.add("i-1", "Running")
    response = cancel(functions, client, "i-1", body)
    assert response.status_code == 400
    assert body_of(response)["fields"] == [field]
    assert instance.events == []


def test_cancel_of_an_unknown_run_is_404(
    functions: dict[str, Any], client: FakeDurableClient
) -> None:
    assert cancel(functions, client, "nope").status_code == 404


@pytest.mark.parametrize("status", ["Completed", "Failed", "Terminated"])
def test_cancel_of_a_finished_run_is_409(
    functions: dict[str, Any], client: FakeDurableClient, status: str
) -> None:
    instance = client.add("i-1", status)
    response = cancel(functions, client, "i-1")
    assert response.status_code == 409
    assert status in body_of(response)["message"]
    assert instance.events == []


def test_cancel_racing_the_end_of_the_run_is_409(
    functions: dict[str, Any], client: FakeDurableClient
) -> None:
    client.add("i-1", "Running")
    client.gone_on_raise = True  # it finished between the status check and the event
    assert cancel(functions, client, "i-1").status_code == 409


# -- GET /api/tools --


def test_tools_lists_every_registered_tool_with_its_schema(
    functions: dict[str, Any], app_settings: None
) -> None:
    response = call(functions, "list_tools_http", request("GET", "tools"))
    assert response.status_code == 200
    tools = {t["name"]: t for t in body_of(response)["tools"]}
    assert set(tools) == set(services().registry.names())
    flights = tools["get_flights"]
    assert flights["parameters"]["required"] == ["date_1", "date_2"]
    assert flights["parameters"]["properties"]["date_1"]["type"] == "string"
    assert flights["description"].startswith("Get the number of flights")


# -- the contract of every route --


def every_answer(functions: dict[str, Any], client: FakeDurableClient) -> list[Response]:
    """Answers of every route (202, 200, 400 and 404 among them), each request
    carrying a function key in its query as a caller in Azure would send it."""
    key = {"code": "the-callers-key"}
    running = client.add("i-run", "Running")
    answers = [
        call(functions, "start_run_http", request("POST", "runs", {"question": SEED}, key), client)
    ]
    client.on_start = {"complete_after_checks": 1, "final_status": "Failed", "pending_output": "x"}
    answers += [
        call(
            functions,
            "start_run_http",
            request("POST", "runs", {"question": SEED}, {**key, "wait": "2"}),
            client,
        ),
        call(functions, "start_run_http", request("POST", "runs", {}, key), client),
    ]
    for instance_id in ("i-run", "nope"):
        route = {"instance_id": instance_id}
        answers.append(
            call(
                functions,
                "get_run_http",
                request("GET", f"runs/{instance_id}", None, key, route),
                client,
            )
        )
        answers.append(
            call(
                functions,
                "cancel_run_http",
                request("POST", f"runs/{instance_id}/cancel", None, key, route),
                client,
            )
        )
    assert running.events, "the cancel reached the run"
    answers.append(call(functions, "list_tools_http", request("GET", "tools", None, key)))
    answers.append(call(functions, "openapi_http", request("GET", "openapi.json", None, key)))
    return answers


def test_no_answer_hands_out_a_durable_extension_url_or_a_key(
    functions: dict[str, Any], client: FakeDurableClient, app_settings: None
) -> None:
    answers = every_answer(functions, client)
    assert {a.status_code for a in answers} == {200, 202, 400, 404}
    for answer in answers:
        assert leaks(dict(answer.headers), body_bytes(answer)) == []


def test_the_contract_check_catches_a_leak_and_a_body_off_the_document() -> None:
    """The check every answer above goes through can fail."""
    view = {"id": "i-1", "runtime_status": "Running", "done": False}
    links = {"status": "s", "cancel": "c", "events": "e"}
    url = f"{ORIGIN}/api/runs/i-1"
    check_answer("GET", url, 200, {}, json.dumps({**view, "links": links}).encode())
    with pytest.raises(AssertionError, match="does not match"):
        check_answer("GET", url, 200, {}, json.dumps(view).encode())  # no links
    with pytest.raises(AssertionError, match="does not match"):
        check_answer("GET", url, 200, {}, json.dumps({**view, "runtime_status": "Off"}).encode())
    with pytest.raises(AssertionError, match="not in the document"):
        check_answer("GET", url, 201, {}, json.dumps({**view, "links": links}).encode())
    durable = f"{ORIGIN}/runtime/webhooks/durabletask/instances/i-1?code=KEY"
    with pytest.raises(AssertionError, match="answered with"):
        check_answer(
            "GET",
            url,
            200,
            {},
            json.dumps({**view, "links": {**links, "status": durable}}).encode(),
        )
    with pytest.raises(AssertionError, match="answered with"):
        check_answer(
            "GET", url, 200, {"Location": durable}, json.dumps({**view, "links": links}).encode()
        )
    with pytest.raises(AssertionError, match="without header Location"):
        check_answer(
            "POST",
            f"{url}/cancel",
            202,
            {},
            json.dumps({"id": "i-1", "status": "cancel_requested"}).encode(),
        )
