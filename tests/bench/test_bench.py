"""The bench's pieces: the baseline loop against the emulator, the counting, the math.

No timings are asserted: the bench reports them, these tests only check that what
it measures is the right thing.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from openai import AzureOpenAI

from bench.baseline import notebook_loop
from bench.report import (
    ApproachResult,
    RunSample,
    ScenarioResult,
    format_scenario,
    percentile,
    ratio,
    summarize,
)
from bench.runner import Approach, Reply, measure, route_delta, run_seconds
from bench.scenarios import FANOUT, SCRIPT_FILES, SEED, Scenario, seed_flights
from emulator.script import DEFAULT_SCRIPT
from emulator.testing import RunningEmulator, running_emulator

KEY = "bench-test-key"

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture(scope="module")
def emulator() -> Iterator[RunningEmulator]:
    with running_emulator(api_key=KEY, script=[DEFAULT_SCRIPT, *SCRIPT_FILES]) as emu:
        yield emu


def client_for(emulator: RunningEmulator) -> AzureOpenAI:
    return AzureOpenAI(azure_endpoint=emulator.url, api_key=KEY, api_version="2024-05-01-preview")


def ask_baseline(emulator: RunningEmulator, scenario: Scenario) -> str:
    return notebook_loop(
        client_for(emulator),
        deployment="gpt-4o-mini",
        instructions="Use the tools.",
        question=scenario.question,
        tools=scenario.tools,
        tool_specs=scenario.tool_specs,
        poll_seconds=0.01,
    )


def test_the_baseline_loop_answers_the_seed_question(emulator: RunningEmulator) -> None:
    answer = ask_baseline(emulator, SEED)

    assert f"You have {seed_flights()} flights" in answer
    assert SEED.check(answer)


def test_the_fanout_script_asks_for_four_calls_in_one_step(emulator: RunningEmulator) -> None:
    calls: list[str] = []

    def record(seconds: float, label: str) -> dict[str, object]:
        calls.append(label)
        return {"label": label, "waited": seconds}

    scenario = Scenario(
        "fanout", "", FANOUT.question, {"bench_wait": record}, FANOUT.tool_specs, FANOUT.check
    )
    answer = ask_baseline(emulator, scenario)

    assert calls == ["a", "b", "c", "d"]
    assert FANOUT.check(answer), answer


def test_measure_counts_requests_and_nothing_left_by_the_baseline(
    emulator: RunningEmulator,
) -> None:
    approach = Approach("baseline", "baseline", lambda s: Reply(ask_baseline(emulator, s)))

    sample = measure(emulator, approach, SEED)

    assert sample.ok, sample.error
    assert sample.left_behind == 0
    by_route = sample.requests_by_route
    assert by_route["POST /assistants"] == 1
    assert by_route["POST /threads/{thread_id}/runs/{run_id}/submit_tool_outputs"] == 2
    assert by_route["DELETE /threads/{thread_id}"] == 1
    assert sample.requests == sum(by_route.values())


def test_measure_reports_objects_left_behind_and_wrong_answers(
    emulator: RunningEmulator,
) -> None:
    client = client_for(emulator)

    def leaky(scenario: Scenario) -> Reply:
        client.beta.threads.create()
        return Reply("not the answer")

    sample = measure(emulator, Approach("leaky", "leaky", leaky), SEED)

    assert not sample.ok
    assert sample.error is not None and "unexpected answer" in sample.error
    assert sample.left_behind == 1
    assert sample.requests_by_route == {"POST /threads": 1}


def test_route_delta_keeps_only_routes_that_served_requests() -> None:
    assert route_delta({"GET /a": 2, "POST /b": 1}, {"GET /a": 5, "POST /b": 1, "GET /c": 1}) == {
        "GET /a": 3,
        "GET /c": 1,
    }


def test_percentile_interpolates_between_ranks() -> None:
    assert percentile([1.0, 2.0, 3.0, 4.0, 5.0], 50) == 3.0
    assert percentile([5.0, 1.0, 4.0, 2.0, 3.0], 90) == pytest.approx(4.6)
    assert percentile([7.0], 90) == 7.0
    with pytest.raises(ValueError):
        percentile([], 50)


def test_summary_uses_only_right_answers_for_times_but_counts_every_leftover() -> None:
    samples = [
        RunSample(seconds=2.0, requests=10, left_behind=0, ok=True),
        RunSample(seconds=4.0, requests=12, left_behind=0, ok=True),
        RunSample(seconds=0.1, requests=3, left_behind=2, ok=False, error="boom"),
    ]

    summary = summarize(samples)

    assert (summary.runs, summary.ok) == (3, 2)
    assert summary.median_s == 3.0
    assert summary.p90_s == pytest.approx(3.8)
    assert summary.requests == 11
    assert summary.left_behind == 2


def test_ratios_and_the_table() -> None:
    assert ratio(1.0, 2.0) == 0.5
    assert ratio(1.0, 0) is None
    assert ratio(None, 2.0) is None
    base = ApproachResult("baseline", "baseline", [RunSample(4.0, 10, 0, True)])
    app = ApproachResult("app", "app", [RunSample(2.0, 5, 0, True, run_seconds=1.5)])

    table = format_scenario(ScenarioResult("seed", "the seed", "300-900", [base, app]))

    lines = table.splitlines()
    assert lines[0].startswith("scenario seed: the seed; model latency 300-900")
    assert lines[2].split() == [
        "baseline", "1/1", "4.00", "4.00", "x1.00", "x1.00", "10.0", "x1.00", "0", "-"
    ]  # fmt: skip
    assert lines[3].split() == [
        "app",
        "1/1",
        "2.00",
        "2.00",
        "x0.50",
        "x0.50",
        "5.0",
        "x0.50",
        "0",
        "1.50",
    ]


def test_run_seconds_reads_the_app_result_timestamps() -> None:
    result = {
        "started_at": "2026-03-01T12:00:00.123000+00:00",
        "finished_at": "2026-03-01T12:00:04.456000+00:00",
    }

    assert run_seconds(result) == pytest.approx(4.333)
    assert run_seconds({"started_at": "2026-03-01T12:00:00+00:00"}) is None
