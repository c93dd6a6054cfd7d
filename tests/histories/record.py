"""Record the orchestration histories the replay test plays back.

    .venv/bin/python -m tests.histories.record            # every scenario
    .venv/bin/python -m tests.histories.record cancelled-assistants ...

Each scenario is a real run: the app on devhost, the Azure OpenAI emulator (real
`openai` SDK over HTTP), Azurite — the local stack the end-to-end tests use, started
here on free loopback ports. When the run has
ended, its history is read from devhost's store exactly as the orchestrator was given
it, checked against what the scenario expects, and written to
`tests/histories/<scenario>.json`. Re-record only on purpose: a recorded history
stands for a run in flight when a new version is deployed, so a change that needs
re-recording is a change that would break such runs (see README, "Recorded histories").
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from devhost.store import Store
from localrun.devhost_process import DevhostProcess
from localrun.stack import SEED_QUESTION, Stack, running_stack
from tests.support.app_http import E2E_SETTINGS, REPO_ROOT, SCRIPTS

HERE = Path(__file__).resolve().parent

LONG_RUN_SETTINGS = {"HISTORY_EVENT_LIMIT": "50", "MODEL_FOLLOW_SECONDS": "0"}
"""A devhost whose runs poll (no stream following) and continue as new after a few polls."""


@dataclass(frozen=True)
class Scenario:
    """One recorded run: what is asked, how the model behaves, how the run must end."""

    name: str
    description: str
    body: dict[str, Any]
    expect: dict[str, Any]
    controls: dict[str, Any] = field(default_factory=dict)
    cancel_in_phase: str | None = None
    in_flight: tuple[str, int] | None = None
    """Record the run while it goes on: once history has this many tasks of this
    activity scheduled (the run is then cancelled, unrecorded)."""
    long_run: bool = False
    timeout: float = 60.0


def seed(backend: str, **extra: Any) -> dict[str, Any]:
    return {"question": SEED_QUESTION, "backend": backend, **extra}


SCENARIOS = [
    *(
        Scenario(
            f"completed-{backend}",
            "the seed question: two rounds of tools, then the answer",
            seed(backend),
            {"runtime_status": "Completed", "outcome": "completed"},
        )
        for backend in ("assistants", "responses")
    ),
    Scenario(
        "parallel-tools-responses",
        "two tool calls in one step, run in parallel",
        {"question": "Please pause twice.", "backend": "responses"},
        {"runtime_status": "Completed", "outcome": "completed"},
    ),
    *(
        Scenario(
            f"failed-{backend}",
            "the model service fails the run: a result with outcome failed",
            seed(backend),
            {"runtime_status": "Completed", "outcome": "failed"},
            controls={"outcomes": [{"outcome": "failed", "count": 1}]},
        )
        for backend in ("assistants", "responses")
    ),
    Scenario(
        "cancelled-assistants",
        "cancelled through the API while waiting for the model",
        seed("assistants"),
        {"runtime_status": "Completed", "outcome": "cancelled"},
        controls={"latency_ms": 60_000},
        cancel_in_phase="waiting_for_model",
    ),
    Scenario(
        "deadline-responses",
        "the model outlasts the run's deadline",
        seed("responses", deadline_seconds=5),
        {"runtime_status": "Completed", "outcome": "deadline_exceeded"},
        controls={"latency_ms": 60_000},
    ),
    Scenario(
        "throttled-responses",
        "the start is throttled past the SDK's retries, waited out on a timer, retried",
        seed("responses"),
        {"runtime_status": "Completed", "outcome": "completed"},
        controls={"faults": [{"fault": "429", "count": 2}], "retry_after": 1},
    ),
    Scenario(
        "orchestration-failed-responses",
        "the service refuses the app's credentials: torn down, then the orchestration fails",
        seed("responses"),
        {"runtime_status": "Failed"},
        controls={"faults": [{"fault": "401", "count": 40}]},
    ),
    Scenario(
        "outage-responses",
        "the model service is out at the start: waited out on durable timers, completed",
        seed("responses"),
        {"runtime_status": "Completed", "outcome": "completed"},
        controls={"faults": [{"fault": "503", "seconds": 4}]},
    ),
    Scenario(
        "content-filtered-responses",
        "Azure's content filter stops the run at a tool output",
        seed("responses"),
        {"runtime_status": "Completed", "outcome": "content_filtered"},
        controls={"content_filter": [{"target": "tool_output", "pattern": "cat_born_date"}]},
    ),
    Scenario(
        "in-flight-tools-responses",
        "in flight: two tool calls scheduled, neither finished",
        {"question": "Please pause twice.", "backend": "responses"},
        {"runtime_status": "Running"},
        in_flight=("run_tool", 2),
    ),
    Scenario(
        "in-flight-polling-assistants",
        "in flight: the model thinks, the run polls on durable timers",
        seed("assistants"),
        {"runtime_status": "Running"},
        controls={"latency_ms": 60_000},
        in_flight=("poll_run", 2),
        long_run=True,
    ),
    Scenario(
        "continue-as-new-assistants",
        "a long wait for the model: the last execution after continuing as new",
        seed("assistants"),
        {"runtime_status": "Completed", "outcome": "completed", "continued_as_new": True},
        controls={"latency_ms": 3_000},
        long_run=True,
    ),
]


def run_scenario(stack: Stack, scenario: Scenario) -> dict[str, Any]:
    """Run `scenario` through the API; the recording of its (last) execution."""
    host = stack.app
    before = stack.emulator.config()
    stack.emulator.configure(**scenario.controls)
    try:
        reply = requests.post(f"{host.url}/api/runs", json=scenario.body, timeout=30)
        reply.raise_for_status()
        run = reply.json()
        if scenario.cancel_in_phase:
            wait_for(host, run["id"], lambda view: view.get("phase") == scenario.cancel_in_phase)
            requests.post(run["links"]["cancel"], json={"reason": "recorded"}, timeout=10)
        if scenario.in_flight:
            history = wait_for_history(host, run["id"], *scenario.in_flight)
            view = requests.get(run["links"]["status"], timeout=10).json()
            requests.post(run["links"]["cancel"], json={"reason": "recorded"}, timeout=10)
            wait_for(host, run["id"], finished, scenario.timeout)
        else:
            view = wait_for(host, run["id"], finished, scenario.timeout)
            history = read_history(host, run["id"])
    finally:
        stack.emulator.configure(**{k: v for k, v in before.items() if k != "seed"})
    recording = {
        "scenario": scenario.name,
        "description": scenario.description,
        "instance_id": run["id"],
        "runtime_status": view["runtime_status"],
        "outcome": view["outcome"],
        "history": history,
    }
    check(scenario, recording)
    return recording


def read_history(host: DevhostProcess, instance_id: str) -> list[dict[str, Any]]:
    """The instance's history as devhost stores it and hands it to the orchestrator."""
    store = Store(host.data_dir)
    try:
        return store.history(instance_id)
    finally:
        store.close()


def wait_for_history(
    host: DevhostProcess, instance_id: str, activity: str, count: int, timeout: float = 30
) -> list[dict[str, Any]]:
    """The history once `count` tasks of `activity` are scheduled."""
    deadline = time.monotonic() + timeout
    while True:
        history = read_history(host, instance_id)
        if sum(e["EventType"] == 4 and e["Name"] == activity for e in history) >= count:
            return history
        if time.monotonic() > deadline:
            raise TimeoutError(f"{instance_id}: never {count} open {activity} tasks")
        time.sleep(0.02)


FINISHED = ("Completed", "Failed", "Terminated", "Canceled")


def finished(view: dict[str, Any]) -> bool:
    """Whether the orchestration is over (a run is `done` already while it tears down)."""
    return view.get("runtime_status") in FINISHED


def wait_for(
    host: DevhostProcess,
    instance_id: str,
    ready: Callable[[dict[str, Any]], bool],
    timeout: float = 30,
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        view: dict[str, Any] = requests.get(f"{host.url}/api/runs/{instance_id}", timeout=10).json()
        if ready(view):
            return view
        if time.monotonic() > deadline:
            raise TimeoutError(f"run {instance_id} not there after {timeout} s: {view}")
        time.sleep(0.05)


def generation(history: list[dict[str, Any]]) -> int:
    """Which execution of its run `history` is (0: the first; see `LoopState`)."""
    started = next(e for e in history if e["EventType"] == 0)  # ExecutionStarted
    data = json.loads(started["Input"])
    if isinstance(data, str):  # a continue-as-new input arrives JSON-encoded once more
        data = json.loads(data)
    return int(data.get("generation", 0)) if isinstance(data, dict) else 0


def check(scenario: Scenario, recording: dict[str, Any]) -> None:
    """The run ended as the scenario says, or the recording is worthless."""
    got = {
        "runtime_status": recording["runtime_status"],
        "outcome": recording["outcome"],
        "continued_as_new": generation(recording["history"]) > 0,
    }
    wrong = {k: (got[k], v) for k, v in scenario.expect.items() if got[k] != v}
    if wrong:
        debug = Path(tempfile.gettempdir()) / f"{scenario.name}.rejected.json"
        debug.write_text(json.dumps(recording, indent=1))
        raise RuntimeError(f"{scenario.name}: ended otherwise than expected (got, wanted): {wrong}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.histories.record", description=__doc__)
    parser.add_argument("names", nargs="*", help="scenarios to record (default: all)")
    args = parser.parse_args(argv)
    chosen = [s for s in SCENARIOS if not args.names or s.name in args.names]
    unknown = set(args.names) - {s.name for s in SCENARIOS}
    if unknown:
        parser.error(f"unknown scenarios {sorted(unknown)}; known: {[s.name for s in SCENARIOS]}")
    for long_run in (False, True):
        group = [s for s in chosen if s.long_run is long_run]
        if not group:
            continue
        overrides = E2E_SETTINGS | (LONG_RUN_SETTINGS if long_run else {})
        with (
            tempfile.TemporaryDirectory(prefix="record-") as workdir,
            running_stack(
                Path(workdir), overrides=overrides, scripts=[SCRIPTS / "pauses.json"]
            ) as stack,
        ):
            for scenario in group:
                recording = run_scenario(stack, scenario)
                path = HERE / f"{scenario.name}.json"
                path.write_text(json.dumps(recording, indent=1) + "\n")
                print(f"{path.relative_to(REPO_ROOT)}: {len(recording['history'])} events")
    return 0


if __name__ == "__main__":
    sys.exit(main())
