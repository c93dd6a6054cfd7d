"""The pure rules the orchestrator delegates to: timing, endings, state, estimates."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from durable_assistant.model import (
    Outcome,
    Phase,
    RunState,
    RunStatus,
    TeardownReport,
    ToolResult,
    Usage,
)
from durable_assistant.polling import (
    HINT_CEILING_MS,
    HINT_FLOOR_MS,
    THROTTLE_CEILING_SECONDS,
    THROTTLE_DEFAULT_SECONDS,
    next_interval_ms,
    outage_wait_ms,
    past_deadline,
    throttle_wait_seconds,
    wait_before_poll_ms,
    wake_at,
)
from durable_assistant.run_loop import (
    TRACE_OUTPUT_CHARS,
    Ending,
    LoopState,
    ending_for,
    error_text,
    estimated_history_events,
    initial_state,
    outage_of,
    result_of,
    should_continue_as_new,
    tool_failure_result,
    waits_out_outages,
)
from tests.orchestration.runs import HANDLE, call, make_plan

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)


def test_interval_grows_by_thirty_percent_and_stops_at_the_cap() -> None:
    intervals = [500]
    while intervals[-1] < 5_000:
        intervals.append(next_interval_ms(intervals[-1], 5_000))
    assert intervals == [500, 650, 845, 1098, 1427, 1855, 2411, 3134, 4074, 5000]
    assert next_interval_ms(5_000, 5_000) == 5_000
    assert next_interval_ms(1, 10) == 2  # always grows until the cap


@pytest.mark.parametrize(
    ("hint", "wait"),
    [(None, 800), (1_200, 1_200), (0, HINT_FLOOR_MS), (10**9, HINT_CEILING_MS)],
)
def test_the_service_hint_wins_within_bounds(hint: int | None, wait: int) -> None:
    assert wait_before_poll_ms(800, hint) == wait


@pytest.mark.parametrize(
    ("retry_after", "wait"),
    [(None, THROTTLE_DEFAULT_SECONDS), (0.0, 1.0), (12.5, 12.5), (1e6, THROTTLE_CEILING_SECONDS)],
)
def test_throttle_wait_follows_retry_after_within_bounds(
    retry_after: float | None, wait: float
) -> None:
    assert throttle_wait_seconds(retry_after) == wait


def test_timers_never_fire_after_the_deadline() -> None:
    deadline = NOW + timedelta(seconds=3)
    assert wake_at(NOW, 1_000, deadline) == NOW + timedelta(seconds=1)
    assert wake_at(NOW, 10_000, deadline) == deadline
    assert not past_deadline(NOW, deadline)
    assert past_deadline(deadline, deadline)


def test_loop_state_round_trips_through_json_for_continue_as_new() -> None:
    state = LoopState.begin(make_plan(deadline_seconds=90), NOW)
    assert state.deadline_at == NOW + timedelta(seconds=90)
    state = state.acted_on(
        HANDLE,
        RunState(status=RunStatus.REQUIRES_ACTION, usage=Usage(total_tokens=5)),
    )
    carried = state.scheduled(7).continued(RunState(status=RunStatus.PENDING, poll_after_ms=300))
    assert (carried.generation, carried.tasks_scheduled) == (1, 0)
    again = initial_state(carried.to_json(), NOW + timedelta(hours=1))
    assert again == carried  # the original start and deadline are kept
    fresh = initial_state(make_plan().to_json(), NOW)
    assert fresh.started_at == NOW and fresh.generation == 0


def test_usage_counts_each_acted_on_state_once_and_tools_are_traced_short() -> None:
    state = LoopState.begin(make_plan(), NOW)
    state = state.acted_on(HANDLE, RunState(status=RunStatus.PENDING))
    state = state.acted_on(
        HANDLE, RunState(status=RunStatus.COMPLETED, usage=Usage(total_tokens=4))
    )
    assert state.usage.total_tokens == 4
    calls = [call("a", "get_flights"), call("b", "my_cat_born_date")]
    long = "x" * (TRACE_OUTPUT_CHARS * 3)
    results = [
        ToolResult(call_id="a", name="get_flights", output=long),
        ToolResult(call_id="b", name="my_cat_born_date", output="ok", ok=False),
    ]
    state = state.with_tool_results(calls, results)
    assert state.step == 1
    assert [t.step for t in state.tool_calls] == [1, 1]
    assert len(state.tool_calls[0].output) == TRACE_OUTPUT_CHARS
    assert "truncated" in state.tool_calls[0].output
    assert state.tool_calls[1].ok is False
    assert state.progress(Phase.RUNNING_TOOLS).step == 2  # the round in progress
    assert state.progress(Phase.SUBMITTING).step == 1


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        (RunStatus.COMPLETED, Outcome.COMPLETED),
        (RunStatus.FAILED, Outcome.FAILED),
        (RunStatus.CANCELLED, Outcome.CANCELLED),
        (RunStatus.EXPIRED, Outcome.EXPIRED),
        (RunStatus.INCOMPLETE, Outcome.INCOMPLETE),
    ],
)
def test_terminal_states_end_the_loop_without_a_cancel(status: RunStatus, outcome: Outcome) -> None:
    ending = ending_for(RunState(status=status, answer="a", reason=None))
    assert ending is not None
    assert (ending.outcome, ending.cancel_run, ending.error) == (outcome, False, False)
    if outcome is not Outcome.COMPLETED:
        assert ending.reason == f"the run ended as {status.value}"


@pytest.mark.parametrize(
    "status", [RunStatus.PENDING, RunStatus.REQUIRES_ACTION, RunStatus.THROTTLED]
)
def test_live_states_do_not_end_the_loop(status: RunStatus) -> None:
    assert ending_for(RunState(status=status)) is None


def test_sdk_activity_errors_lose_their_details() -> None:
    sdk = Exception("Activity function 'poll_run' failed: RuntimeError: 503 \n Traceback: ...")
    assert error_text(sdk) == "Activity function 'poll_run' failed: RuntimeError: 503"
    assert error_text(ValueError("bad value")) == "ValueError: bad value"
    assert error_text(KeyError()) == "KeyError"
    failed = tool_failure_result(call("c", "get_flights"), sdk)
    assert failed.ok is False and failed.output.startswith("error: the tool get_flights")


def test_cancel_reason_comes_from_the_event_when_it_has_one() -> None:
    assert Ending.cancelled({"reason": "stop"}).reason == "cancelled on request: stop"
    assert Ending.cancelled(None).reason == "cancelled on request"
    assert Ending.cancelled("not a dict").reason == "cancelled on request"
    # as the durable client delivers it: JSON-encoded once more
    assert Ending.cancelled('{"reason": "stop"}').reason == "cancelled on request: stop"
    assert Ending.cancelled('"just text"').reason == "cancelled on request"


def test_continue_as_new_estimate() -> None:
    state = LoopState.begin(make_plan(history_event_limit=400), NOW)
    assert estimated_history_events(state.scheduled(10)) == 44
    assert not should_continue_as_new(state.scheduled(1))  # never before progress
    assert not should_continue_as_new(state.scheduled(80))  # 324 + 40 < 400
    assert should_continue_as_new(state.scheduled(90))  # 364 + 40 >= 400
    tiny = LoopState.begin(make_plan(history_event_limit=20), NOW)
    assert not should_continue_as_new(tiny.scheduled(1))
    assert should_continue_as_new(tiny.scheduled(3))


def test_result_carries_everything_the_caller_needs() -> None:
    state = LoopState.begin(make_plan(), NOW).acted_on(
        HANDLE, RunState(status=RunStatus.COMPLETED, usage=Usage(total_tokens=9))
    )
    report = TeardownReport(deleted=["resp-1"])
    result = result_of(
        state,
        Ending(outcome=Outcome.COMPLETED, answer="42"),
        finished_at=NOW + timedelta(seconds=3),
        teardown=report,
    )
    assert (result.answer, result.usage.total_tokens, result.teardown) == ("42", 9, report)
    assert result.started_at == NOW
    assert result.finished_at == NOW + timedelta(seconds=3)
    assert result.handle == HANDLE


def test_outage_waits_double_up_to_a_cap_that_grows_with_long_deadlines() -> None:
    waits = [outage_wait_ms(n, 600) for n in range(1, 8)]
    assert waits == [1_000, 2_000, 4_000, 8_000, 10_000, 10_000, 10_000]
    day = 86_400
    assert outage_wait_ms(50, day) == day * 1000 // 60  # about 60 calls a deadline at most
    assert outage_wait_ms(1, day) == 1_000


@pytest.mark.parametrize(
    ("version", "waits"),
    [("1.1", True), ("1.1.0", True), ("2.0", True), ("1.0", False), ("", False), (None, False),
     ("1.x", False)],
)  # fmt: skip
def test_outages_are_waited_out_from_version_1_1(version: str | None, waits: bool) -> None:
    assert waits_out_outages(version) is waits


def test_only_an_activity_failure_from_an_outage_is_one() -> None:
    outage = Exception(
        "Activity function 'poll_run' failed: ServiceUnavailableError: "
        "the app's storage could not be reached \n Traceback ..."
    )
    assert outage_of(outage) == "poll_run: the app's storage could not be reached"
    refused = Exception(
        "Activity function 'poll_run' failed: CredentialsRejectedError: refused \n ..."
    )
    assert outage_of(refused) is None
    assert outage_of(ValueError("ServiceUnavailableError: not from an activity")) is None
