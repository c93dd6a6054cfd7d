"""The management API, driven through the SDK's real DurableOrchestrationClient."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import requests

from localrun.devhost_process import DevhostProcess
from tests.support.waiting import wait_until


def call(host: DevhostProcess, method: str, path: str, **kwargs: Any) -> Any:
    response = requests.request(method, f"{host.url}/api/client/{path}", timeout=15, **kwargs)
    assert response.status_code == 200, response.text
    return response.json()


def test_client_binding_start_and_check_status_response(host: DevhostProcess) -> None:
    response = requests.post(f"{host.url}/api/start/chain", json=["Kim"], timeout=10)
    assert response.status_code == 202
    body = response.json()
    assert response.headers["Location"] == body["statusQueryGetUri"]
    assert response.headers["Retry-After"] == "10"
    instance_id = body["id"]
    assert body["statusQueryGetUri"].startswith(
        f"{host.url}/runtime/webhooks/durabletask/instances/{instance_id}?taskHub=PatternsHub"
    )
    assert (
        body["sendEventPostUri"].split("?")[0].endswith(f"/{instance_id}/raiseEvent/{{eventName}}")
    )
    host.wait(instance_id)
    status = requests.get(body["statusQueryGetUri"], timeout=10)
    assert status.status_code == 200
    assert status.json()["output"] == ["Hello Kim"]


def test_wait_for_completion_returns_output(host: DevhostProcess) -> None:
    response = requests.post(f"{host.url}/api/start/chain?wait=5000", json=["Lu"], timeout=10)
    assert response.status_code == 200
    assert response.json() == ["Hello Lu"]


def test_wait_for_completion_times_out_to_202(host: DevhostProcess) -> None:
    response = requests.post(f"{host.url}/api/start/approval?wait=1100", json=5, timeout=10)
    assert response.status_code == 202
    assert "statusQueryGetUri" in response.json()


def test_get_status_with_history_via_sdk(host: DevhostProcess) -> None:
    instance_id = host.start("chain", ["Mo"])
    host.wait(instance_id)
    status = call(host, "GET", f"status/{instance_id}")
    assert status["runtimeStatus"] == "Completed"
    assert status["output"] == ["Hello Mo"]
    kinds = [e["EventType"] for e in status["history"]]
    # The extension folds each TaskScheduled into its completion.
    assert kinds == ["ExecutionStarted", "TaskCompleted", "ExecutionCompleted"]


def test_history_events_have_the_extension_shape(host: DevhostProcess) -> None:
    instance_id = host.start("chain", ["Ann", "Bo"])
    host.wait(instance_id)
    url = f"{host.webhook}/instances/{instance_id}"
    full = requests.get(
        url, params={"showHistory": "true", "showHistoryOutput": "true"}, timeout=10
    ).json()["historyEvents"]
    started, first, second, completed = full
    assert started["EventType"] == "ExecutionStarted"
    assert started["FunctionName"] == "chain"
    assert json.loads(json.loads(started["Input"])) == ["Ann", "Bo"]  # the client encodes twice
    for gone in ("Name", "OrchestrationInstance", "ParentInstance", "Version", "Tags"):
        assert gone not in started
    assert [first["EventType"], second["EventType"]] == ["TaskCompleted"] * 2
    assert [first["FunctionName"], second["FunctionName"]] == ["hello", "hello"]
    assert [first["Result"], second["Result"]] == ["Hello Ann", "Hello Bo"]  # parsed JSON
    assert "Ann" in first["Input"]  # the scheduling event's input
    assert first["ScheduledTime"] <= first["Timestamp"]
    assert completed["EventType"] == "ExecutionCompleted"
    assert completed["OrchestrationStatus"] == "Completed"
    assert completed["Result"] == ["Hello Ann", "Hello Bo"]
    for event in full:
        assert {"EventId", "IsPlayed", "TaskScheduledId"}.isdisjoint(event)

    plain = requests.get(
        url, params={"showHistory": "true", "showInput": "false"}, timeout=10
    ).json()["historyEvents"]
    assert [e["EventType"] for e in plain] == [e["EventType"] for e in full]
    assert all("Result" not in e and "Input" not in e for e in plain)


def test_get_status_unknown_instance(host: DevhostProcess) -> None:
    assert call(host, "GET", "status/does-not-exist") is None
    assert requests.get(f"{host.webhook}/instances/does-not-exist", timeout=10).status_code == 404


def test_running_status_is_202(host: DevhostProcess) -> None:
    instance_id = host.start("approval", 5)
    response = requests.get(f"{host.webhook}/instances/{instance_id}", timeout=10)
    assert response.status_code == 202
    assert response.json()["runtimeStatus"] in ("Pending", "Running")
    host.raise_event(instance_id, "Approval", "ok")
    host.wait(instance_id)


def test_raise_event_through_sdk(host: DevhostProcess) -> None:
    instance_id = host.start("approval", 5)
    call(host, "POST", f"raise/{instance_id}?event=Approval", json={"level": 2})
    assert host.wait(instance_id)["output"] == {"approved": '{"level": 2}'}


def test_terminate_through_sdk(host: DevhostProcess) -> None:
    instance_id = host.start("approval", 30)
    call(host, "POST", f"terminate/{instance_id}?reason=enough")
    status = host.wait(instance_id)
    assert status["runtimeStatus"] == "Terminated"
    assert status["output"] == "enough"
    assert host.raise_event(instance_id, "Approval") == 410


def test_suspend_and_resume_through_sdk(host: DevhostProcess) -> None:
    instance_id = host.start("approval", 30)
    wait_until(lambda: (host.status(instance_id) or {}).get("runtimeStatus") == "Running")
    call(host, "POST", f"suspend/{instance_id}")
    assert host.status(instance_id)["runtimeStatus"] == "Suspended"  # type: ignore[index]
    host.raise_event(instance_id, "Approval", "held")
    time.sleep(0.3)
    assert host.status(instance_id)["runtimeStatus"] == "Suspended"  # type: ignore[index]
    call(host, "POST", f"resume/{instance_id}")
    assert host.wait(instance_id)["output"] == {"approved": '"held"'}


def test_query_by_status_and_all(host: DevhostProcess) -> None:
    running = host.start("approval", 30)
    done = host.start("chain", ["Q"])
    host.wait(done)
    wait_until(lambda: (host.status(running) or {}).get("runtimeStatus") == "Running")
    by_running = call(host, "GET", "by?status=Running")
    assert running in by_running and done not in by_running
    everything = {s["instanceId"] for s in call(host, "GET", "all")}
    assert {running, done} <= everything
    call(host, "POST", f"terminate/{running}")


def test_list_paging_with_continuation_token(host: DevhostProcess) -> None:
    prefix = f"page-{time.time_ns()}-"
    for n in range(3):
        host.start("chain", ["p"], instance_id=f"{prefix}{n}")
    seen: list[str] = []
    token = None
    while True:
        headers: dict[str, str] = {"x-ms-continuation-token": token} if token else {}
        response = requests.get(
            f"{host.webhook}/instances/",
            params={"instanceIdPrefix": prefix, "top": "2"},
            headers=headers,
            timeout=10,
        )
        seen += [s["instanceId"] for s in response.json()]
        token = response.headers.get("x-ms-continuation-token")
        if not token:
            break
    assert seen == [f"{prefix}{n}" for n in range(3)]


def test_start_existing_running_id_is_rejected(host: DevhostProcess) -> None:
    instance_id = f"dup-{time.time_ns()}"
    host.start("approval", 30, instance_id=instance_id)
    response = requests.post(
        f"{host.webhook}/orchestrators/approval/{instance_id}", data=json.dumps("5"), timeout=10
    )
    assert response.status_code == 400
    assert "already exists" in response.json()["ExceptionMessage"]
    call(host, "POST", f"terminate/{instance_id}")


def test_purge_one_through_sdk(host: DevhostProcess) -> None:
    instance_id = host.start("chain", ["P"])
    host.wait(instance_id)
    assert call(host, "DELETE", f"purge/{instance_id}") == 1
    assert host.status(instance_id) is None
    assert call(host, "DELETE", f"purge/{instance_id}") == 0


def test_purge_by_filter_through_sdk(host: DevhostProcess) -> None:
    since = datetime.now(UTC) - timedelta(seconds=1)
    failed = host.start("failing", "purge me")
    kept = host.start("chain", ["keep"])
    host.wait(failed)
    host.wait(kept)
    deleted = call(
        host, "DELETE", "purge-by", params={"from": since.isoformat(), "status": "Failed"}
    )
    assert deleted >= 1
    assert host.status(failed) is None
    assert host.status(kept) is not None


def test_management_payload_urls(host: DevhostProcess) -> None:
    payload = call(host, "GET", "payload/abc")
    assert payload["id"] == "abc"
    assert payload["purgeHistoryDeleteUri"].startswith(f"{host.url}/runtime/webhooks/durabletask/")
