"""Ask each scenario's question through each approach, interleaved, and measure.

Runs are sequential (one run in flight at a time) and interleaved (baseline, app
on Assistants, app on Responses, then again), so drift in the machine's load hits
every approach alike. Before each repetition the emulator's random seed is reset,
so every approach sees the same model latencies, turn for turn.
"""

from __future__ import annotations

import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import requests
from openai import AzureOpenAI

from bench.baseline import notebook_loop
from bench.report import ApproachResult, RunSample, ScenarioResult
from bench.scenarios import Scenario
from bench.stack import API_VERSION, DEPLOYMENT, EMULATOR_KEY, Stack
from durable_assistant.settings import DEFAULT_INSTRUCTIONS
from emulator.testing import AdminClient

APP_WAIT_SECONDS = 60


@dataclass(frozen=True)
class Reply:
    """What one run gave back: the answer and, from the app, its own run time."""

    answer: str
    run_seconds: float | None = None


Ask = Callable[[Scenario], Reply]
"""One run of an approach: ask the scenario's question, return the reply."""


@dataclass(frozen=True)
class Approach:
    """A way of answering: its name, its label in the table, and how it asks."""

    name: str
    label: str
    ask: Ask


def baseline_approach(stack: Stack, poll_seconds: float) -> Approach:
    """The notebook loop, with one SDK client made once (as a notebook does)."""
    client = AzureOpenAI(
        azure_endpoint=stack.emulator.url, api_key=EMULATOR_KEY, api_version=API_VERSION
    )

    def ask(scenario: Scenario) -> Reply:
        answer = notebook_loop(
            client,
            deployment=DEPLOYMENT,
            instructions=DEFAULT_INSTRUCTIONS,
            question=scenario.question,
            tools=scenario.tools,
            tool_specs=scenario.tool_specs,
            poll_seconds=poll_seconds,
        )
        return Reply(answer)

    return Approach("baseline", f"baseline (sleep {poll_seconds:g} s)", ask)


def app_approach(stack: Stack, backend: str) -> Approach:
    """`POST /api/runs?wait=N` on devhost: the caller's view of the app, HTTP included."""
    session = requests.Session()

    def ask(scenario: Scenario) -> Reply:
        reply = session.post(
            f"{stack.app.url}/api/runs",
            params={"wait": APP_WAIT_SECONDS},
            json={"question": scenario.question, "backend": backend, "tools": scenario.tool_names},
            timeout=APP_WAIT_SECONDS + 30,
        )
        if reply.status_code != 200:
            raise RuntimeError(f"POST /api/runs answered {reply.status_code}: {reply.text[:200]}")
        result: dict[str, Any] = reply.json()
        if result.get("outcome") != "completed":
            raise RuntimeError(f"run ended {result.get('outcome')}: {result.get('error')}")
        return Reply(str(result.get("answer") or ""), run_seconds(result))

    return Approach(f"app-{backend}", f"app, {backend} backend", ask)


def run_seconds(result: dict[str, Any]) -> float | None:
    """The app's own time for the run (its result's started_at to finished_at)."""
    try:
        started = datetime.fromisoformat(str(result["started_at"]))
        finished = datetime.fromisoformat(str(result["finished_at"]))
    except (KeyError, ValueError):
        return None
    return (finished - started).total_seconds()


def _snapshot(admin: AdminClient) -> tuple[dict[str, int], int]:
    """(requests served so far by route, objects live now) from the emulator's counters."""
    counts = admin.counts()
    by_route = {str(route): int(n) for route, n in counts["requests"].items()}
    live = sum(int(n) for n in counts["live"].values())
    return by_route, live


def route_delta(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    """Requests per route served between two snapshots (routes with none left out)."""
    delta = {route: n - before.get(route, 0) for route, n in after.items()}
    return {route: n for route, n in sorted(delta.items()) if n}


def measure(admin: AdminClient, approach: Approach, scenario: Scenario) -> RunSample:
    """One run: wall time around the ask, and the emulator's counters around it."""
    routes_before, live_before = _snapshot(admin)
    started = time.perf_counter()
    error: str | None = None
    reply = Reply("")
    try:
        reply = approach.ask(scenario)
    except Exception as exc:  # a failed run is reported, not fatal to the bench
        error = f"{type(exc).__name__}: {exc}"
    seconds = time.perf_counter() - started
    routes_after, live_after = _snapshot(admin)
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
    )


def run_scenario(
    stack: Stack,
    approaches: list[Approach],
    scenario: Scenario,
    *,
    latency_ms: str,
    runs: int,
    warmup: int,
) -> ScenarioResult:
    """Warm up every approach, then `runs` interleaved repetitions."""
    admin = stack.emulator
    admin.configure(latency_ms=latency_ms)
    results = [ApproachResult(a.name, a.label) for a in approaches]
    for _ in range(warmup):
        for approach in approaches:
            measure(admin, approach, scenario)
    for repetition in range(runs):
        for approach, result in zip(approaches, results, strict=True):
            admin.configure(seed=repetition + 1)
            result.samples.append(measure(admin, approach, scenario))
            print(".", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr, flush=True)
    return ScenarioResult(scenario.name, scenario.summary, latency_ms, results)


def quiet_sdk_warnings() -> None:
    """The SDK warns that the Assistants API is deprecated; the baseline uses it on purpose."""
    warnings.filterwarnings("ignore", category=DeprecationWarning)
