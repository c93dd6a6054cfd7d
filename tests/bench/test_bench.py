"""The bench's pieces: the baseline loop against the emulator, the counting, the math.

No timings are asserted: the bench reports them, these tests only check that what
it measures is the right thing.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from azure.data.tables import TableServiceClient
from openai import AzureOpenAI

from bench.__main__ import cpu_references
from bench.baseline import notebook_loop, sdk_helpers_loop
from bench.concurrent import BatchResult, by_app, format_batches
from bench.report import (
    ApproachResult,
    RunSample,
    ScenarioResult,
    format_scenario,
    percentile,
    ratio,
    summarize,
)
from bench.runner import (
    Approach,
    Reply,
    activity_seconds,
    longest_tool_step,
    measure,
    route_delta,
    run_seconds,
    wakes,
)
from bench.scenarios import FANOUT, FANOUT16, SEED, Scenario, seed_flights
from bench.table_proxy import counting_tables
from emulator.testing import RunningEmulator
from tests.support.emulator_sdk import EMULATOR_KEY

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture
def emulator(emulator_session: RunningEmulator) -> Iterator[RunningEmulator]:
    """The session's emulator (it plays the bench's scripts), empty, default controls."""
    emulator_session.start_over()
    yield emulator_session
    emulator_session.reset()


def client_for(emulator: RunningEmulator) -> AzureOpenAI:
    return AzureOpenAI(
        azure_endpoint=emulator.url, api_key=EMULATOR_KEY, api_version="2024-05-01-preview"
    )


def ask_baseline(
    emulator: RunningEmulator,
    scenario: Scenario,
    loop: Callable[..., str] = notebook_loop,
    **options: Any,
) -> str:
    """Ask with one of the baseline loops (the notebook's, polling fast, by default)."""
    if loop is notebook_loop:
        options.setdefault("poll_seconds", 0.01)
    return loop(
        client_for(emulator),
        deployment="gpt-4o-mini",
        instructions="Use the tools.",
        question=scenario.question,
        tools=scenario.tools,
        tool_specs=scenario.tool_specs,
        **options,
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
    base = ApproachResult("notebook", "notebook", [RunSample(4.0, 10, 0, True, model_seconds=0.8)])
    sdk = ApproachResult("sdk-helpers", "sdk", [RunSample(3.0, 20, 0, True, model_seconds=0.8)])
    app = ApproachResult(
        "app",
        "app",
        [
            RunSample(
                1.2,
                5,
                0,
                True,
                table_requests=6,
                table_requests_by_table={"assistantledger": 4, "runevents": 2},
                model_seconds=0.8,
                activity_seconds=1.1,
                wakes=7,
                tool_step_seconds=0.25,
            )
        ],
    )

    result = ScenarioResult("seed", "the seed", "300", [base, sdk, app], tool_seconds=0.2)
    table = format_scenario(result)

    assert result.ideal_s == pytest.approx(1.0)  # model time plus the tool time
    lines = table.splitlines()
    assert lines[0].startswith("scenario seed: the seed; model latency 300")
    assert lines[2].split() == [
        "notebook", "1/1", "4.00", "4.00", "x4.00", "10.0", "x0.50", "-", "-", "-", "-", "-", "0"
    ]  # fmt: skip
    assert lines[4].split() == [
        "app", "1/1", "1.20", "1.20", "x1.20", "5.0", "x0.25", "6.0", "4.0", "1.10", "7", "0.25",
        "0",
    ]  # fmt: skip
    assert lines[5].split()[-1] == "1.00"  # the ideal


def batch(
    label: str,
    ok: int,
    wall_s: float,
    p50_s: float,
    cpu: float,
    episodes: tuple[float, float] | None = None,
) -> BatchResult:
    per_run, episode_cpu = episodes if episodes is not None else (None, None)
    return BatchResult(
        label,
        50,
        ok,
        wall_s,
        p50_s,
        p50_s + 1,
        cpu,
        episodes_per_run=per_run,
        episode_cpu_s_per_run=episode_cpu,
    )


def test_rounds_of_a_batch_pool_into_one_row_with_the_cpu_range() -> None:
    rounds = [
        batch("earlier", 50, 10.0, 8.0, 0.20),
        batch("follow", 50, 9.0, 7.0, 0.10),
        batch("earlier", 48, 11.0, 9.0, 0.24),
        batch("follow", 50, 9.0, 7.5, 0.13),
        batch("earlier", 50, 12.0, 8.5, 0.21),
        batch("follow", 50, 8.0, 6.0, 0.11),
    ]

    earlier, follow = by_app(rounds)

    assert (earlier.label, earlier.rounds, earlier.runs, earlier.ok) == ("earlier", 3, 150, 148)
    assert earlier.runs_per_s == pytest.approx(148 / 33.0)  # over all rounds' runs and time
    assert (earlier.p50_s, earlier.cpu_s_per_run) == (8.5, 0.21)  # the rounds' medians
    assert earlier.cpu_s_range == (0.20, 0.24)
    assert (follow.p50_s, follow.cpu_s_per_run, follow.cpu_s_range) == (7.0, 0.11, (0.10, 0.13))


def test_the_concurrent_table_divides_each_cpu_by_its_reference_app() -> None:
    reference = cpu_references(["at d25bee9a9"], ["follow", "poll"])
    rows = by_app(
        [
            batch("app, responses, at d25bee9a9", 50, 10.0, 8.0, 0.20),
            batch("app, responses, follow", 50, 9.0, 7.0, 0.09),
            batch("app, responses, poll", 50, 9.0, 7.0, 0.18),
            batch("app, responses, at d25bee9a9", 50, 10.0, 8.0, 0.20),
            batch("app, responses, follow", 50, 9.0, 7.0, 0.11),
            batch("app, responses, poll", 50, 9.0, 7.0, 0.18),
        ]
    )

    lines = format_batches(50, "1000-2000", rows, reference).splitlines()

    assert "2 rounds" in lines[0]
    assert lines[1].split()[-4:] == ["cpu", "range", "cpu", "x"]
    assert lines[2].split()[-6:-3] == ["-", "-", "-"]  # no episode count from that host
    assert [line.split()[-1] for line in lines[2:]] == ["1.00", "0.50", "0.90"]
    assert lines[3].split()[-2] == "0.090-0.110"
    assert reference["app, assistants, poll"] == "app, assistants, at d25bee9a9"
    polling = cpu_references([], ["follow", "poll"])
    assert polling["app, responses, follow"] == "app, responses, poll"
    assert cpu_references([], ["follow"]) == {}


def test_episodes_and_their_cpu_pool_by_median_and_divide_by_the_reference() -> None:
    reference = cpu_references(["at d25bee9a9"], ["follow"])
    rows = by_app(
        [
            batch("app, assistants, at d25bee9a9", 50, 10.0, 8.0, 0.20, (19.0, 0.100)),
            batch("app, assistants, follow", 50, 9.0, 7.0, 0.10, (7.0, 0.020)),
            batch("app, assistants, at d25bee9a9", 50, 10.0, 8.0, 0.20, (17.0, 0.080)),
            batch("app, assistants, follow", 50, 9.0, 7.0, 0.10, (7.0, 0.030)),
            batch("app, assistants, at d25bee9a9", 50, 10.0, 8.0, 0.20, (18.0, 0.090)),
            batch("app, assistants, follow", 50, 9.0, 7.0, 0.10, None),  # not counted
        ]
    )

    earlier, follow = rows
    assert (earlier.episodes_per_run, earlier.episode_cpu_s_per_run) == (18.0, 0.090)
    assert (follow.episodes_per_run, follow.episode_cpu_s_per_run) == (7.0, 0.025)
    lines = format_batches(50, "1000-2000", rows, reference).splitlines()
    assert lines[1].split()[7:11] == ["episodes", "orch", "s/run", "orch"]
    assert lines[2].split()[-6:-3] == ["18.0", "0.090", "1.00"]
    assert lines[3].split()[-6:-3] == ["7.0", "0.025", "0.28"]


def test_run_seconds_reads_the_app_result_timestamps() -> None:
    result = {
        "started_at": "2026-03-01T12:00:00.123000+00:00",
        "finished_at": "2026-03-01T12:00:04.456000+00:00",
    }

    assert run_seconds(result) == pytest.approx(4.333)
    assert run_seconds({"started_at": "2026-03-01T12:00:00+00:00"}) is None


def test_the_notebook_loop_acts_one_sleep_late(emulator: RunningEmulator) -> None:
    """Retrieve, sleep, then act on that retrieve: 3 model turns cost 6 polls."""
    emulator.reset()
    emulator.configure(latency_ms="50")  # each turn ends within the first sleep
    answer = ask_baseline(emulator, SEED, poll_seconds=0.15)
    assert SEED.check(answer)
    polls = emulator.counts()["requests"].get("GET /threads/{thread_id}/runs/{run_id}", 0)
    emulator.reset()
    assert polls == 6


def test_the_sdk_helpers_answer_the_seed_question(emulator: RunningEmulator) -> None:
    emulator.reset()
    emulator.configure(poll_after_ms=5)
    answer = ask_baseline(emulator, SEED, loop=sdk_helpers_loop)
    assert SEED.check(answer)
    assert sum(emulator.live().values()) == 0
    emulator.reset()


def test_the_sixteen_call_script_answers_with_every_label(emulator: RunningEmulator) -> None:
    fast = {"bench_wait": lambda seconds, label: {"label": label}}
    scenario = Scenario("f", "", FANOUT16.question, fast, FANOUT16.tool_specs, FANOUT16.check)
    assert FANOUT16.check(ask_baseline(emulator, scenario))


def test_measure_adds_up_the_model_time_of_the_turns(emulator: RunningEmulator) -> None:
    emulator.configure(latency_ms="20")
    approach = Approach("baseline", "baseline", lambda s: Reply(ask_baseline(emulator, s)))
    sample = measure(emulator, approach, SEED)
    emulator.reset()
    assert sample.model_seconds == pytest.approx(0.06)  # three turns of 20 ms


def test_the_history_gives_activity_time_wakes_and_the_tool_step() -> None:
    history = [
        {"EventType": "ExecutionStarted", "Timestamp": "2026-03-01T12:00:00+00:00"},
        {
            "EventType": "TaskCompleted",
            "FunctionName": "start_run",
            "ScheduledTime": "2026-03-01T12:00:00+00:00",
            "Timestamp": "2026-03-01T12:00:01+00:00",
        },
        *(
            {
                "EventType": "TaskCompleted",
                "FunctionName": "run_tool",
                "ScheduledTime": "2026-03-01T12:00:01+00:00",
                "Timestamp": f"2026-03-01T12:00:01.{n}00000+00:00",
            }
            for n in (2, 3)
        ),
        {"EventType": "TimerFired", "Timestamp": "2026-03-01T12:00:02+00:00"},
    ]
    assert activity_seconds(history) == pytest.approx(1.5)
    assert wakes(history) == 5
    assert longest_tool_step(history) == pytest.approx(0.3)


def test_the_table_proxy_counts_each_request(azurite: str) -> None:
    with counting_tables(azurite) as (proxy, counted):
        service = TableServiceClient.from_connection_string(counted)
        table = service.create_table_if_not_exists("proxied" + uuid.uuid4().hex[:12])
        table.upsert_entity({"PartitionKey": "p", "RowKey": "r", "n": 1})
        table.submit_transaction(
            [("upsert", {"PartitionKey": "p", "RowKey": str(i)}) for i in range(3)]
        )
        assert table.get_entity("p", "r")["n"] == 1
        assert proxy.requests == 4  # create, upsert, one batch, read
        assert proxy.by_table == {"Tables": 1, table.table_name: 3}
