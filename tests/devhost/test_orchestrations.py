"""Orchestration patterns end to end over HTTP, through the SDK's replay executor."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import requests

from bench.concurrent import cpu_seconds
from devhost.history import EventType
from localrun.devhost_process import DevhostProcess, running_devhost
from tests.support.waiting import wait_until


def raw_kinds(events: list[dict[str, object]]) -> list[tuple[str, object]]:
    """(event type name, EventId) of stored DurableTask events."""
    return [(EventType(int(str(e["EventType"]))).name, e["EventId"]) for e in events]


def test_chaining(host: DevhostProcess) -> None:
    status = host.wait(host.start("chain", ["Tokyo", "Seattle"]))
    assert status["runtimeStatus"] == "Completed"
    assert status["output"] == ["Hello Tokyo", "Hello Seattle"]
    assert status["input"] == '["Tokyo", "Seattle"]'  # the client double-encodes, as on Azure


def test_fan_out_activities_overlap(host: DevhostProcess) -> None:
    started = time.monotonic()
    status = host.wait(host.start("fan_out", {"activity": "block", "seconds": 1, "n": 2}))
    elapsed = time.monotonic() - started
    assert status["runtimeStatus"] == "Completed"
    first, second = status["output"]
    assert first["start"] < second["end"] and second["start"] < first["end"]
    assert elapsed < 1.8  # one after the other would take 2 s


def test_fan_out_is_bounded_by_host_json(host: DevhostProcess) -> None:
    # maxConcurrentActivityFunctions is 4 in the sample's host.json: 8 naps take two rounds.
    status = host.wait(host.start("fan_out", {"activity": "nap", "seconds": 0.3, "n": 8}))
    spans = status["output"]
    assert len(spans) == 8
    starts = sorted(s["start"] for s in spans)
    peak = max(sum(1 for s in spans if s["start"] <= t < s["end"]) for t in starts)
    assert peak == 4


def test_durable_timer_fires_on_time(host: DevhostProcess) -> None:
    started = time.monotonic()
    status = host.wait(host.start("timer", 0.4))
    elapsed = time.monotonic() - started
    assert status["runtimeStatus"] == "Completed"
    assert 0.4 <= status["output"] < 0.6
    assert 0.4 <= elapsed < 1.0


def test_external_event_before_timeout(host: DevhostProcess) -> None:
    instance_id = host.start("approval", 5)
    wait_until(lambda: (host.status(instance_id) or {}).get("runtimeStatus") == "Running")
    assert host.raise_event(instance_id, "Approval", {"by": "ann"}) == 202
    status = host.wait(instance_id, timeout=3)
    # Event data arrives JSON-encoded once more, as the real extension delivers it.
    assert status["output"] == {"approved": '{"by": "ann"}'}


def test_external_event_buffered_before_wait(host: DevhostProcess) -> None:
    instance_id = host.start("status_phases")
    assert host.raise_event(instance_id, "go", 1) == 202
    assert host.wait(instance_id)["output"] == "finished"


def test_external_event_timeout(host: DevhostProcess) -> None:
    status = host.wait(host.start("approval", 0.3), timeout=5)
    assert status["output"] == "timed out"


def test_raise_event_unknown_and_finished(host: DevhostProcess) -> None:
    assert host.raise_event("no-such-instance", "Approval") == 404
    done = host.start("chain", ["x"])
    host.wait(done)
    assert host.raise_event(done, "Approval") == 410


def test_continue_as_new(host: DevhostProcess) -> None:
    instance_id = host.start("counter", 0)
    status = host.wait(instance_id)
    assert status["output"] == {"final": 3, "instance": instance_id}
    assert status["input"] == "3"
    history = raw_kinds(host.raw_history(instance_id))
    # Only the last execution's history is kept.
    assert history[1][0] == "EXECUTION_STARTED"
    assert sum(kind == "TASK_SCHEDULED" for kind, _ in history) == 1


def test_sub_orchestrations(host: DevhostProcess) -> None:
    instance_id = host.start("parent")
    status = host.wait(instance_id)
    assert status["runtimeStatus"] == "Completed"
    output = status["output"]
    assert output["first"] == ["Hello Ann"]
    assert output["both"][0] == ["Hello Bo"]
    assert output["both"][1]["final"] == 3
    assert output["failure"].startswith("Orchestrator function 'failing' failed: boom from parent")
    child = host.status(f"{instance_id}-c1")
    assert child is not None and child["output"] == ["Hello Bo"]


def test_retry_until_success_and_id_sequence(host: DevhostProcess) -> None:
    spec = {"key": "retry-ok", "succeed_on": 3, "interval_ms": 100, "attempts": 3}
    started = time.monotonic()
    instance_id = host.start("retrying", spec)
    status = host.wait(instance_id)
    assert status["output"] == {"result": "ok after 3", "after": "Hello after"}
    assert time.monotonic() - started >= 0.2  # two retry intervals
    history = raw_kinds(host.raw_history(instance_id))
    sequence = [(kind, i) for kind, i in history if kind in ("TASK_SCHEDULED", "TIMER_CREATED")]
    assert sequence == [
        ("TASK_SCHEDULED", 0),
        ("TIMER_CREATED", 1),
        ("TASK_SCHEDULED", 2),
        ("TIMER_CREATED", 3),
        ("TASK_SCHEDULED", 4),
        ("TASK_SCHEDULED", 5),
    ]


def test_retry_exhausted_propagates_failure(host: DevhostProcess) -> None:
    spec = {"key": "retry-never", "succeed_on": 99, "interval_ms": 50, "attempts": 2}
    status = host.wait(host.start("retrying", spec))
    failed = status["output"]["failed"]
    assert failed.startswith("Activity function 'flaky' failed: RuntimeError: attempt 2 failed")


def test_sub_orchestration_with_retry(host: DevhostProcess) -> None:
    spec = {"key": "sub-retry", "succeed_on": 4, "interval_ms": 20, "attempts": 2, "reraise": True}
    # The child fails twice per run (2 attempts); the second child run succeeds on call 4.
    status = host.wait(host.start("sub_retrying", spec))
    assert status["runtimeStatus"] == "Completed"
    assert status["output"]["result"] == "ok after 4"


def test_custom_status(host: DevhostProcess) -> None:
    instance_id = host.start("status_phases")
    wait_until(lambda: (host.status(instance_id) or {}).get("customStatus") is not None)
    running = host.status(instance_id)
    assert running is not None
    assert running["runtimeStatus"] == "Running"
    assert running["customStatus"] == {"phase": "waiting"}
    host.raise_event(instance_id, "go", "now")
    done = host.wait(instance_id)
    assert done["customStatus"] == {"phase": "done", "got": '"now"'}


def test_orchestrator_failure_output(host: DevhostProcess) -> None:
    status = host.wait(host.start("failing", "x"))
    assert status["runtimeStatus"] == "Failed"
    assert status["output"] == "Orchestrator function 'failing' failed: boom x"


def test_activity_failure_reaches_orchestrator(host: DevhostProcess) -> None:
    status = host.wait(host.start("catches"))
    assert status["runtimeStatus"] == "Completed"
    assert status["output"].startswith("Activity function 'explode' failed: ValueError: kaput")
    assert "function_app.py" in status["output"]  # the user's frames ...
    assert "engine.py" not in status["output"]  # ... and not devhost's


def test_nondeterminism_fails_the_instance(host: DevhostProcess) -> None:
    instance_id = host.start("fickle")
    wait_until(lambda: (host.status(instance_id) or {}).get("runtimeStatus") == "Running")
    assert requests.post(f"{host.url}/api/switch", timeout=10).status_code == 200
    host.raise_event(instance_id, "next")
    status = host.wait(instance_id)
    assert status["runtimeStatus"] == "Failed"
    assert status["output"].startswith("Non-Deterministic workflow detected:")
    assert "'hello'" in status["output"] and "'explode'" in status["output"]


def test_unknown_orchestrator_is_400(host: DevhostProcess) -> None:
    response = requests.post(f"{host.webhook}/orchestrators/nope", timeout=10)
    assert response.status_code == 400
    assert "doesn't exist" in response.json()["ExceptionMessage"]


def test_open_timer_keeps_instance_running_until_it_fires(host: DevhostProcess) -> None:
    instance_id = host.start("leaves_timer", 0.8)
    started = time.monotonic()
    host.raise_event(instance_id, "Now")
    time.sleep(0.4)
    assert host.status(instance_id)["runtimeStatus"] == "Running"  # type: ignore[index]
    status = host.wait(instance_id)
    assert status["output"] == "returned"
    assert time.monotonic() - started >= 0.7


def test_cancelled_timer_does_not_hold_completion(host: DevhostProcess) -> None:
    instance_id = host.start("approval", 30)
    started = time.monotonic()
    host.raise_event(instance_id, "Approval", 1)
    host.wait(instance_id)
    assert time.monotonic() - started < 2


def test_history_ids_for_task_any_and_sub_orchestrations(host: DevhostProcess) -> None:
    waiting = host.start("approval", 0.2)
    host.wait(waiting)
    raw = raw_kinds(host.raw_history(waiting))
    # wait_for_external_event takes no sequence id: the timer is 0.
    assert [(kind, i) for kind, i in raw if isinstance(i, int) and i >= 0] == [("TIMER_CREATED", 0)]
    history = host.status(waiting, history=True)["historyEvents"]  # type: ignore[index]
    assert history[-1]["OrchestrationStatus"] == "Completed"

    parent_id = host.start("parent")
    host.wait(parent_id)
    created = [
        (e["EventId"], e["Name"])
        for e in host.raw_history(parent_id)
        if e["EventType"] == EventType.SUB_ORCHESTRATION_INSTANCE_CREATED
    ]
    assert created == [(0, "chain"), (1, "chain"), (2, "counter"), (3, "failing")]
    assert any(e.get("InstanceId") == f"{parent_id}-c1" for e in host.raw_history(parent_id))
    history = host.status(parent_id, history=True)["historyEvents"]  # type: ignore[index]
    failed = [e for e in history if e["EventType"] == "SubOrchestrationInstanceFailed"]
    assert failed[0]["Reason"] == "Orchestrator function 'failing' failed: boom from parent"


def test_sub_orchestration_id_of_a_running_instance_is_refused(host: DevhostProcess) -> None:
    busy = host.start("approval", 30)
    wait_until(lambda: (host.status(busy) or {}).get("runtimeStatus") == "Running")
    status = host.wait(host.start("adopts", busy))
    assert status["output"].startswith(
        "caught An Orchestration instance with the status Running already exists."
    )
    still = host.status(busy)
    assert still is not None and (still["name"], still["runtimeStatus"]) == ("approval", "Running")
    host.raise_event(busy, "Approval", "done")
    assert host.wait(busy)["runtimeStatus"] == "Completed"

    # An id held by an ended instance is reused, as with the extension's default
    # overridable (non-running) states.
    child = host.wait(host.start("adopts", busy))
    assert child["output"] == ["Hello x"]
    assert host.status(busy)["name"] == "chain"  # type: ignore[index]


def test_episodes_are_counted_with_the_cpu_their_threads_spent(
    tmp_path: Path, patterns_app: Path
) -> None:
    env = {"PATTERNS_SCRATCH": str(tmp_path / "scratch"), "TICK_SCHEDULE": "0 0 0 1 1 *"}
    with running_devhost(patterns_app, data_dir=tmp_path / "data", env=env) as host:
        assert host.process is not None
        before = host.episode_totals()
        process_before = cpu_seconds(host.process.pid)
        host.wait(host.start("chain", ["a", "b", "c"]))
        after = host.episode_totals()
        process_after = cpu_seconds(host.process.pid)

    assert before is not None and after is not None
    assert process_before is not None and process_after is not None
    process_spent = process_after - process_before
    # One episode to start, one after each of the three activities.
    assert after[0] - before[0] == 4
    spent = after[1] - before[1]
    assert 0 < spent <= process_spent + 0.02  # part of the process's CPU (clock ticks)


def test_an_app_folder_with_a_devhost_of_its_own_is_served_by_this_one(
    tmp_path: Path, patterns_app: Path
) -> None:
    app = tmp_path / "app"
    shutil.copytree(patterns_app, app)
    (app / "devhost").mkdir()  # as in a checkout of an earlier revision
    (app / "devhost" / "__init__.py").write_text("")
    (app / "devhost" / "__main__.py").write_text("raise SystemExit('the app folder\\'s devhost')")
    env = {"PATTERNS_SCRATCH": str(tmp_path / "scratch"), "TICK_SCHEDULE": "0 0 0 1 1 *"}

    with running_devhost(app, data_dir=tmp_path / "data", env=env) as host:
        assert host.wait(host.start("chain", ["x"]))["output"] == ["Hello x"]
        assert host.episode_totals() is not None  # this checkout's admin endpoint
