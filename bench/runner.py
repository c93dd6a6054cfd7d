"""Ask each scenario's question through each approach, interleaved, and measure.

Runs are sequential (one run in flight at a time) and interleaved (every approach
once, then again), so drift in the machine's load hits every approach alike.
Before each repetition the emulator's random seed is reset, so every approach
sees the same model latencies, turn for turn.
"""

from __future__ import annotations

import functools
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import requests
from openai import AzureOpenAI

from bench.baseline import notebook_loop, sdk_helpers_loop
from bench.report import ApproachResult, RunSample, ScenarioResult
from bench.scenarios import Scenario
from bench.stack import API_VERSION, DEPLOYMENT, EMULATOR_KEY, Stack
from bench.table_proxy import TableProxy
from durable_assistant.settings import DEFAULT_INSTRUCTIONS
from emulator.testing import AdminClient
from localrun.devhost_process import DevhostProcess

APP_WAIT_SECONDS = 60
SLOW_SLEEP = 5.0
"""A notebook sleeping this long per poll is run fewer times (its time barely varies)."""


@dataclass(frozen=True)
class Reply:
    """What one run gave back: the answer and, from the app, what the run cost it.

    `seconds` is the caller's wait when the approach measured it itself (the app's
    reply comes before its teardown ends; the bench waits for that before counting).
    """

    answer: str
    run_seconds: float | None = None
    seconds: float | None = None
    activity_seconds: float | None = None
    wakes: int | None = None
    tool_step_seconds: float | None = None


Ask = Callable[[Scenario], Reply]
"""One run of an approach: ask the scenario's question, return the reply."""


@dataclass(frozen=True)
class Approach:
    """A way of answering: its name, its label in the table, and how it asks.

    A `slow` approach (the notebook's 5 s sleep) runs fewer repetitions.
    """

    name: str
    label: str
    ask: Ask
    slow: bool = False


def _client(stack: Stack) -> AzureOpenAI:
    return AzureOpenAI(
        azure_endpoint=stack.emulator.url, api_key=EMULATOR_KEY, api_version=API_VERSION
    )


def _loop_approach(
    stack: Stack, name: str, label: str, loop: Callable[..., str], *, slow: bool = False
) -> Approach:
    """A loop of the SDK's calls in the caller's thread, one client made once (as a
    notebook does)."""
    client = _client(stack)

    def ask(scenario: Scenario) -> Reply:
        answer = loop(
            client,
            deployment=DEPLOYMENT,
            instructions=DEFAULT_INSTRUCTIONS,
            question=scenario.question,
            tools=scenario.tools,
            tool_specs=scenario.tool_specs,
        )
        return Reply(answer)

    return Approach(name, label, ask, slow=slow)


def baseline_approach(stack: Stack, poll_seconds: float) -> Approach:
    """The notebook loop with its sleep."""
    return _loop_approach(
        stack,
        f"notebook-{poll_seconds:g}",
        f"notebook loop (sleep {poll_seconds:g} s)",
        functools.partial(notebook_loop, poll_seconds=poll_seconds),
        slow=poll_seconds >= SLOW_SLEEP,
    )


def sdk_helpers_approach(stack: Stack) -> Approach:
    """`create_and_poll` / `submit_tool_outputs_and_poll`."""
    return _loop_approach(stack, "sdk-helpers", "SDK create_and_poll helpers", sdk_helpers_loop)


def app_approach(host: DevhostProcess, backend: str, mode: str) -> Approach:
    """`POST /api/runs?wait=N` on devhost: the caller's view of the app, HTTP included.

    After the reply the bench waits for the orchestration to finish (teardown may
    end behind the answer) and reads its history: activity time and wakes.
    """
    session = requests.Session()

    def ask(scenario: Scenario) -> Reply:
        started = time.perf_counter()
        reply = session.post(
            f"{host.url}/api/runs",
            params={"wait": APP_WAIT_SECONDS},
            json={"question": scenario.question, "backend": backend, "tools": scenario.tool_names},
            timeout=APP_WAIT_SECONDS + 30,
        )
        seconds = time.perf_counter() - started
        if reply.status_code != 200:
            raise RuntimeError(f"POST /api/runs answered {reply.status_code}: {reply.text[:200]}")
        result: dict[str, Any] = reply.json()
        if result.get("outcome") != "completed":
            raise RuntimeError(f"run ended {result.get('outcome')}: {result.get('error')}")
        host.wait(str(result["id"]), timeout=APP_WAIT_SECONDS)
        status = host.status(str(result["id"]), history=True) or {}
        history = status.get("historyEvents") or []
        return Reply(
            str(result.get("answer") or ""),
            run_seconds(result),
            seconds=seconds,
            activity_seconds=activity_seconds(history),
            wakes=wakes(history),
            tool_step_seconds=longest_tool_step(history),
        )

    return Approach(f"app-{backend}-{mode}", f"app, {backend}, {mode}", ask)


def activity_seconds(history: list[dict[str, Any]]) -> float:
    """Time the run's activities ran (scheduled to completed, each), from its history."""
    total = 0.0
    for event in history:
        if event.get("EventType") in ("TaskCompleted", "TaskFailed") and "ScheduledTime" in event:
            scheduled = datetime.fromisoformat(str(event["ScheduledTime"]))
            done = datetime.fromisoformat(str(event["Timestamp"]))
            total += max(0.0, (done - scheduled).total_seconds())
    return total


def longest_tool_step(history: list[dict[str, Any]]) -> float | None:
    """The longest step of tool calls: its first call scheduled to its last one done.

    A step's calls are scheduled together, in one episode, so they share a time.
    """
    steps: dict[str, list[datetime]] = {}
    for event in history:
        if event.get("FunctionName") == "run_tool" and "ScheduledTime" in event:
            steps.setdefault(str(event["ScheduledTime"]), []).append(
                datetime.fromisoformat(str(event["Timestamp"]))
            )
    spans = [
        (max(done) - datetime.fromisoformat(scheduled)).total_seconds()
        for scheduled, done in steps.items()
    ]
    return max(spans) if spans else None


WAKING_EVENTS = ("ExecutionStarted", "TaskCompleted", "TaskFailed", "TimerFired", "EventRaised")


def wakes(history: list[dict[str, Any]]) -> int:
    """History events that each wake the orchestrator (an upper bound of its episodes)."""
    return sum(1 for event in history if event.get("EventType") in WAKING_EVENTS)


def run_seconds(result: dict[str, Any]) -> float | None:
    """The app's own time for the run (its result's started_at to finished_at)."""
    try:
        started = datetime.fromisoformat(str(result["started_at"]))
        finished = datetime.fromisoformat(str(result["finished_at"]))
    except (KeyError, ValueError):
        return None
    return (finished - started).total_seconds()


def _snapshot(admin: AdminClient) -> tuple[dict[str, int], int, float]:
    """(requests served by route, objects live, model seconds drawn) from the emulator."""
    counts = admin.counts()
    by_route = {str(route): int(n) for route, n in counts["requests"].items()}
    live = sum(int(n) for n in counts["live"].values())
    return by_route, live, float(counts.get("model_seconds", 0.0))


def route_delta(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    """Requests per route served between two snapshots (routes with none left out)."""
    delta = {route: n - before.get(route, 0) for route, n in after.items()}
    return {route: n for route, n in sorted(delta.items()) if n}


def measure(
    admin: AdminClient,
    approach: Approach,
    scenario: Scenario,
    tables: TableProxy | None = None,
) -> RunSample:
    """One run: wall time around the ask, and the counters (model, Table) around it."""
    routes_before, live_before, model_before = _snapshot(admin)
    tables_before = tables.requests if tables is not None else 0
    by_table_before = dict(tables.by_table) if tables is not None else {}
    started = time.perf_counter()
    error: str | None = None
    reply = Reply("")
    try:
        reply = approach.ask(scenario)
    except Exception as exc:  # a failed run is reported, not fatal to the bench
        error = f"{type(exc).__name__}: {exc}"
    seconds = time.perf_counter() - started if reply.seconds is None else reply.seconds
    routes_after, live_after, model_after = _snapshot(admin)
    by_route = route_delta(routes_before, routes_after)
    ok = error is None and scenario.check(reply.answer)
    if error is None and not ok:
        error = f"unexpected answer: {reply.answer[:120]!r}"
    return RunSample(
        seconds=seconds,
        requests=sum(by_route.values()),
        left_behind=max(0, live_after - live_before),
        ok=ok,
        error=error,
        requests_by_route=by_route,
        run_seconds=reply.run_seconds,
        table_requests=tables.requests - tables_before if tables is not None else None,
        table_requests_by_table=route_delta(by_table_before, dict(tables.by_table))
        if tables is not None
        else {},
        model_seconds=model_after - model_before,
        activity_seconds=reply.activity_seconds,
        wakes=reply.wakes,
        tool_step_seconds=reply.tool_step_seconds,
    )


def run_scenario(
    stack: Stack,
    approaches: list[Approach],
    scenario: Scenario,
    *,
    latency_ms: str,
    runs: int,
    warmup: int,
    slow_runs: int = 1,
) -> ScenarioResult:
    """Warm up every fast approach, then `runs` interleaved repetitions (`slow_runs` for
    the slow ones), each repetition with the same model latencies for every approach."""
    admin = stack.emulator
    admin.configure(latency_ms=latency_ms)
    results = [ApproachResult(a.name, a.label) for a in approaches]
    for _ in range(warmup):
        for approach in approaches:
            if not approach.slow:
                measure(admin, approach, scenario, stack.tables)
    for repetition in range(runs):
        for approach, result in zip(approaches, results, strict=True):
            if approach.slow and repetition >= slow_runs:
                continue
            admin.configure(seed=repetition + 1)
            result.samples.append(measure(admin, approach, scenario, stack.tables))
            print(".", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr, flush=True)
    return ScenarioResult(
        scenario.name, scenario.summary, latency_ms, results, tool_seconds=scenario.tool_seconds
    )


def quiet_sdk_warnings() -> None:
    """The SDK warns that the Assistants API is deprecated; the baseline uses it on purpose."""
    warnings.filterwarnings("ignore", category=DeprecationWarning)
