"""Replay tests of the run orchestrator: recorded histories in, scheduled actions out.

Every test drives the real `azure-functions-durable` executor through
`tests/orchestration/history.py`, checks what is scheduled at each step, and ends
with teardown scheduled exactly once and a replay of the full history (twice)
giving the same result.
"""

from __future__ import annotations

from datetime import timedelta
from itertools import pairwise

import pytest

from durable_assistant.model import (
    Outcome,
    Phase,
    Progress,
    RunHandle,
    RunStatus,
    StartInput,
    SubmitInput,
    ToolInvocation,
)
from durable_assistant.polling import MODEL_CALL_RETRY, TEARDOWN_RETRY, TOOL_RETRY
from durable_assistant.run_loop import CANCEL_EVENT
from tests.orchestration.history import (
    START,
    Episode,
    NondeterminismError,
    OrchestrationHost,
    Scheduled,
    flatten,
)
from tests.orchestration.runs import (
    HANDLE,
    INSTANCE,
    activity_counts,
    assert_ended_after_one_teardown,
    call,
    completed,
    finish_with_teardown,
    new_host,
    pending,
    requires,
    result,
    step,
    tool_result,
)


def started(host: OrchestrationHost, first_state: dict[str, object] | None = None) -> Episode:
    """Run the first episode (start_run scheduled) and complete the start."""
    episode = host.run()
    start = episode.only("start_run")
    assert StartInput.from_json(start.input).instance_id == INSTANCE
    return host.complete(start, first_state or pending()).run()


def poll_after(host: OrchestrationHost, episode: Episode) -> Scheduled:
    """Fire the one timer `episode` scheduled; return the poll it leads to."""
    (timer,) = episode.timers()
    assert episode.names() == ["timer"]
    return host.fire(timer).run().only("poll_run")


def progress(episode: Episode) -> Progress:
    return Progress.from_json(episode.custom_status)


# -- the seed scenario --


def test_seed_scenario_two_rounds_of_tools_then_the_answer() -> None:
    host = new_host()
    first = host.run()
    start = first.only("start_run")
    assert start.retry == {
        "firstRetryIntervalInMilliseconds": MODEL_CALL_RETRY.first_interval_ms,
        "maxNumberOfAttempts": MODEL_CALL_RETRY.max_attempts,
    }
    assert StartInput.from_json(start.input).plan.question.startswith("How many flights")
    assert progress(first).phase is Phase.STARTING

    # the start is raced against the cancel event (it may follow the model's turn)
    assert any(a.get("externalEventName") == CANCEL_EVENT for a in first.new_actions)
    # pending: a timer at the initial interval
    waiting = host.complete(start, pending()).run()
    (timer,) = waiting.timers()
    assert timer.at == START + timedelta(milliseconds=500)
    assert progress(waiting).phase is Phase.WAITING_FOR_MODEL

    poll = host.fire(timer).run().only("poll_run")
    assert poll.input == HANDLE.to_json()
    cat = call("call-cat", "my_cat_born_date", cat_name="Mike")
    tools = host.complete(poll, requires(cat, tokens=5)).run()
    (run_cat,) = tools.activities("run_tool")
    assert ToolInvocation.from_json(run_cat.input).call == cat
    assert run_cat.retry is not None
    assert run_cat.retry["maxNumberOfAttempts"] == TOOL_RETRY.max_attempts
    assert progress(tools) == Progress(
        phase=Phase.RUNNING_TOOLS,
        step=1,
        usage=progress(tools).usage,
        backend=HANDLE.backend,
    )
    assert progress(tools).usage.total_tokens == 10

    submit = host.complete(run_cat, tool_result(run_cat, {"cat_born_date": "2016-03-01"})).run()
    submitted = SubmitInput.from_json(submit.only("submit_tool_outputs").input)
    assert [r.output for r in submitted.results] == ['{"cat_born_date": "2016-03-01"}']
    assert progress(submit).phase is Phase.SUBMITTING

    # the second round: get_flights with the model's dates
    after_submit = host.complete(submit.new[0], pending()).run()
    poll = poll_after(host, after_submit)
    flights = call("call-flights", "get_flights", date_1="2016-03-01", date_2="2021-04-04")
    tools = host.complete(poll, requires(flights, tokens=7)).run()
    (run_flights,) = tools.activities("run_tool")
    submit = host.complete(run_flights, tool_result(run_flights, {"flights": 1860})).run()
    after_submit = host.complete(submit.only("submit_tool_outputs"), pending()).run()
    poll = poll_after(host, after_submit)

    answer = "There are 1860 flights between Mike's birth date and Easter 2021."
    teardown = host.complete(poll, completed(answer, tokens=20)).run()
    assert teardown.names() == ["teardown_run"]  # no cancel: the run ended by itself
    assert teardown.only("teardown_run").retry == {
        "firstRetryIntervalInMilliseconds": TEARDOWN_RETRY.first_interval_ms,
        "maxNumberOfAttempts": TEARDOWN_RETRY.max_attempts,
    }
    assert progress(teardown).phase is Phase.TEARING_DOWN
    final = finish_with_teardown(host, teardown)

    outcome = result(final)
    assert outcome.outcome is Outcome.COMPLETED
    assert outcome.answer == answer
    assert [(t.step, t.name) for t in outcome.tool_calls] == [
        (1, "my_cat_born_date"),
        (2, "get_flights"),
    ]
    assert outcome.usage.total_tokens == 2 * (5 + 7 + 20)
    assert outcome.steps == 2
    assert outcome.handle == HANDLE
    assert outcome.teardown is not None and outcome.teardown.deleted == ["resp-1"]
    assert outcome.started_at == START
    assert progress(final) == Progress(
        phase=Phase.DONE, step=2, tool_calls=2, usage=outcome.usage, backend=HANDLE.backend
    )
    assert activity_counts(host) == {
        "start_run": 1,
        "poll_run": 3,
        "run_tool": 2,
        "submit_tool_outputs": 2,
        "teardown_run": 1,
    }


def test_polling_interval_grows_to_its_cap_and_follows_the_hint() -> None:
    host = new_host(poll_initial_ms=500, poll_max_ms=1_000)
    episode = started(host)
    waits = []
    for state in (pending(), pending(), pending(poll_after_ms=3_000), pending()):
        (timer,) = episode.timers()
        waits.append((timer.at - host.now).total_seconds() * 1000)
        poll = host.fire(timer).run().only("poll_run")
        episode = host.complete(poll, state).run()
    assert waits == [500, 650, 845, 3_000]  # grows 1.3x; then the hint wins
    (timer,) = episode.timers()
    assert (timer.at - host.now) == timedelta(milliseconds=1_000)


def test_first_start_completing_at_once_needs_no_poll() -> None:
    host = new_host()
    episode = started(host, completed("done at once"))
    final = finish_with_teardown(host, episode)
    assert result(final).answer == "done at once"
    assert activity_counts(host)["poll_run"] == 0


# -- tools --


def test_two_tool_calls_run_in_parallel_and_are_submitted_together() -> None:
    host = new_host()
    episode = started(host)
    poll = poll_after(host, episode)
    cat = call("c-1", "my_cat_born_date", cat_name="Mike")
    flights = call("c-2", "get_flights", date_1="2020-01-01", date_2="2020-01-03")
    fan_out = host.complete(poll, requires(cat, flights)).run()
    # both scheduled in the same episode, in one WhenAll
    first, second = fan_out.activities("run_tool")
    assert fan_out.names() == ["run_tool", "run_tool"]
    assert [ToolInvocation.from_json(s.input).call for s in (first, second)] == [cat, flights]
    when_all = fan_out.state["actions"][0][-1]  # the latest action: one WhenAll of both
    assert when_all["actionType"] == 12 and len(when_all["compoundActions"]) == 2

    # completions in reverse order: nothing is submitted until both are in
    assert host.complete(second, tool_result(second, {"flights": 2})).run().new == []
    submit = host.complete(first, tool_result(first, {"cat_born_date": "2016-01-01"})).run()
    results = SubmitInput.from_json(submit.only("submit_tool_outputs").input).results
    assert [(r.call_id, r.output) for r in results] == [
        ("c-1", '{"cat_born_date": "2016-01-01"}'),
        ("c-2", '{"flights": 2}'),
    ]
    after = host.complete(submit.new[0], completed("ok")).run()
    final = finish_with_teardown(host, after)
    assert len(result(final).tool_calls) == 2


def test_a_tool_error_is_submitted_as_its_output_and_the_run_goes_on() -> None:
    host = new_host()
    poll = poll_after(host, started(host))
    bad = call("c-bad", "get_flights", date_1="someday", date_2="2021-04-04")
    tools = host.complete(poll, requires(bad)).run()
    (run_bad,) = tools.activities("run_tool")
    error_text = "error: invalid arguments for get_flights: date_1: 'someday' is not a date"
    submit = host.complete(run_bad, tool_result(run_bad, error_text, ok=False)).run()
    (result_sent,) = SubmitInput.from_json(submit.only("submit_tool_outputs").input).results
    assert (result_sent.output, result_sent.ok) == (error_text, False)
    after = host.complete(submit.new[0], completed("I could not read that date.")).run()
    final = finish_with_teardown(host, after)
    assert result(final).outcome is Outcome.COMPLETED
    assert result(final).tool_calls[0].ok is False


def test_a_tool_activity_failing_after_retries_becomes_an_error_output() -> None:
    host = new_host()
    poll = poll_after(host, started(host))
    cat = call("c-1", "my_cat_born_date", cat_name="Mike")
    flights = call("c-2", "get_flights", date_1="2020-01-01", date_2="2020-01-03")
    fan_out = host.complete(poll, requires(cat, flights)).run()
    first, second = fan_out.activities("run_tool")
    host.complete(second, tool_result(second, {"flights": 2})).run()
    submit = host.fail_every_attempt(
        first, "Activity function 'run_tool' failed: MemoryError: worker died", "Traceback ..."
    )
    results = SubmitInput.from_json(submit.only("submit_tool_outputs").input).results
    assert results[0].ok is False
    assert results[0].output.startswith("error: the tool my_cat_born_date could not run")
    assert "MemoryError: worker died" in results[0].output
    assert "Traceback" not in results[0].output
    assert results[1].output == '{"flights": 2}'
    after = host.complete(submit.new[0], completed("partial")).run()
    finish_with_teardown(host, after)


def test_too_many_rounds_of_tools_cancels_the_run() -> None:
    host = new_host(max_steps=1)
    poll = poll_after(host, started(host))
    tools = host.complete(poll, requires(call("c-1", "my_cat_born_date", cat_name="M"))).run()
    (tool,) = tools.activities("run_tool")
    submit = host.complete(tool, tool_result(tool, {"cat_born_date": "2016-01-01"})).run()
    again = host.complete(
        submit.only("submit_tool_outputs"), requires(call("c-2", "my_cat_born_date", cat_name="M"))
    ).run()
    cancel = again.only("cancel_run")
    teardown = host.complete(cancel, step(RunStatus.CANCELLED)).run()
    final = finish_with_teardown(host, teardown)
    assert result(final).outcome is Outcome.FAILED
    assert "more than 1 rounds" in (result(final).reason or "")


# -- endings --


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        (RunStatus.FAILED, Outcome.FAILED),
        (RunStatus.EXPIRED, Outcome.EXPIRED),
        (RunStatus.INCOMPLETE, Outcome.INCOMPLETE),
        (RunStatus.CANCELLED, Outcome.CANCELLED),
    ],
)
def test_a_run_that_ends_badly_is_torn_down_and_reported(
    status: RunStatus, outcome: Outcome
) -> None:
    host = new_host()
    poll = poll_after(host, started(host))
    reason = f"the service says {status.value}"
    teardown = host.complete(poll, step(status, reason=reason)).run()
    assert teardown.names() == ["teardown_run"]  # ended by itself: nothing to cancel
    final = finish_with_teardown(host, teardown)
    assert final.error is None  # a model-side ending is a result, not a crash
    assert (result(final).outcome, result(final).reason) == (outcome, reason)


def test_deadline_caps_the_timer_then_cancels_and_tears_down() -> None:
    host = new_host(deadline_seconds=5, poll_initial_ms=2_000, poll_max_ms=4_000)
    deadline = START + timedelta(seconds=5)
    episode = started(host)
    fire_times = []
    while True:
        (timer,) = episode.timers()
        fire_times.append(timer.at)
        poll = host.fire(timer).run().only("poll_run")
        episode = host.complete(poll, pending()).run()
        if not episode.timers():
            break
    assert fire_times == [
        START + timedelta(seconds=2),
        START + timedelta(seconds=4.6),  # 2 s, then 2.6 s
        START + timedelta(seconds=5),  # 3.38 s would pass the deadline: cut to it
    ]
    assert max(fire_times) <= deadline
    cancel = episode.only("cancel_run")
    assert cancel.input == HANDLE.to_json()
    teardown = host.complete(cancel, step(RunStatus.CANCELLED)).run()
    final = finish_with_teardown(host, teardown)
    assert result(final).outcome is Outcome.DEADLINE_EXCEEDED
    assert "5 s" in (result(final).reason or "")


def test_cancel_event_while_waiting_cancels_the_timer_the_run_and_tears_down() -> None:
    host = new_host()
    episode = started(host)
    (timer,) = episode.timers()
    cancelled = host.raise_event(CANCEL_EVENT, {"reason": "user pressed stop"}).run()
    cancel = cancelled.only("cancel_run")
    assert cancel.input == HANDLE.to_json()
    assert timer.cancelled  # an open timer would keep the instance running
    teardown = host.complete(cancel, step(RunStatus.CANCELLED)).run()
    final = finish_with_teardown(host, teardown)
    assert result(final).outcome is Outcome.CANCELLED
    assert result(final).reason == "cancelled on request: user pressed stop"
    assert activity_counts(host)["poll_run"] == 0


def test_cancel_raised_while_an_activity_runs_is_seen_at_the_next_wait() -> None:
    host = new_host()
    poll = poll_after(host, started(host))
    assert host.raise_event(CANCEL_EVENT, {}).run().new == []  # poll still running
    cancel = host.complete(poll, pending()).run().only("cancel_run")
    teardown = host.complete(cancel, step(RunStatus.CANCELLED)).run()
    assert result(finish_with_teardown(host, teardown)).outcome is Outcome.CANCELLED


# The SDK warns when an event arrives before anything waits for it, then buffers it.
@pytest.mark.filterwarnings("ignore:Potential duplicate Task completion")
def test_cancel_raised_before_the_first_wait_is_not_lost() -> None:
    host = new_host()
    start = host.run().only("start_run")
    host.raise_event(CANCEL_EVENT, {"reason": "changed my mind"}).run()
    episode = host.complete(start, pending()).run()
    cancel = episode.activities("cancel_run")[0]
    assert [s for s in episode.timers() if not s.cancelled] == []
    teardown = host.complete(cancel, step(RunStatus.CANCELLED)).run()
    assert result(finish_with_teardown(host, teardown)).outcome is Outcome.CANCELLED


def test_cancel_run_failing_still_tears_down() -> None:
    host = new_host()
    started(host)
    cancel = host.raise_event(CANCEL_EVENT).run().only("cancel_run")
    teardown = host.fail_every_attempt(cancel, "Activity function 'cancel_run' failed: boom")
    final = finish_with_teardown(host, teardown)
    assert result(final).outcome is Outcome.CANCELLED


def test_poll_failing_after_retries_tears_down_then_fails_with_the_reason() -> None:
    host = new_host()
    poll = poll_after(host, started(host))
    assert poll.retry is not None and poll.retry["maxNumberOfAttempts"] == 4
    episode = host.fail_every_attempt(
        poll,
        "Activity function 'poll_run' failed: RuntimeError: the model service answered 503",
        "Traceback (most recent call last): ...",
    )
    assert poll.attempts == 4
    cancel = episode.only("cancel_run")  # the run may still be going at the service
    teardown = host.complete(cancel, step(RunStatus.CANCELLED)).run()
    final = host.complete(teardown.only("teardown_run"), {"deleted": ["resp-1"]}).run()
    assert final.error is not None
    assert "poll_run" in final.error and "RuntimeError" in final.error
    assert "503" not in final.error  # an activity's own text stays in the logs
    assert "Traceback" not in final.error
    assert progress(final).phase is Phase.DONE
    assert_ended_after_one_teardown(host, final)


def test_start_failing_after_retries_tears_down_by_instance_and_fails() -> None:
    host = new_host()
    start = host.run().only("start_run")
    episode = host.fail_every_attempt(start, "Activity function 'start_run' failed: boom")
    teardown = episode.only("teardown_run")  # nothing started: no cancel
    assert RunHandle.from_json(teardown.input) == RunHandle(
        backend=HANDLE.backend, instance_id=INSTANCE
    )
    final = host.complete(teardown, {"deleted": []}).run()
    assert final.error is not None and "'start_run' failed: boom" in final.error
    assert_ended_after_one_teardown(host, final)


def test_teardown_failing_after_retries_still_returns_the_answer() -> None:
    host = new_host()
    episode = started(host, completed("42"))
    teardown = episode.only("teardown_run")
    failed = host.fail_every_attempt(teardown, "Activity function 'teardown_run' failed: 500")
    record = failed.only("record_run_events")
    assert record.events == teardown.events  # the end is recorded again, in the same slot
    final = host.complete(record, None).run()
    assert final.done and final.error is None
    assert result(final).answer == "42"
    assert result(final).teardown is None
    assert_ended_after_one_teardown(host, final)


def test_a_malformed_activity_result_fails_the_run_after_teardown() -> None:
    host = new_host()
    start = host.run().only("start_run")
    teardown = host.complete(start, {"not": "a step"}).run().only("teardown_run")
    final = host.complete(teardown, {"deleted": []}).run()
    assert final.error is not None and "ValidationError" in final.error
    assert_ended_after_one_teardown(host, final)


# -- throttling --


def test_throttled_poll_waits_retry_after_then_polls_again() -> None:
    host = new_host()
    poll = poll_after(host, started(host))
    waiting = host.complete(poll, step(RunStatus.THROTTLED, retry_after_seconds=7)).run()
    (timer,) = waiting.timers()
    assert timer.at - host.now == timedelta(seconds=7)
    again = host.fire(timer).run().only("poll_run")
    assert again.input == HANDLE.to_json()
    final = finish_with_teardown(host, host.complete(again, completed("ok")).run())
    assert result(final).answer == "ok"


def test_a_long_throttle_of_polls_still_continues_as_new() -> None:
    host = new_host(history_event_limit=20, deadline_seconds=3_600)
    episode = started(host)
    polls = 0
    while host.executions < 3:
        if episode.done:  # continued as new: the next execution's first episode
            episode = host.run()
        (timer,) = episode.timers()
        if polls:  # every wait after a throttled poll is the service's Retry-After
            assert timer.at - host.now == timedelta(seconds=2)
        poll = host.fire(timer).run().only("poll_run")
        polls += 1
        episode = host.complete(poll, step(RunStatus.THROTTLED, retry_after_seconds=2)).run()
        assert polls < 20, "the execution never continued as new"
    assert host.input["last"]["status"] == "throttled"
    assert len(host.history) < 20


def test_throttled_start_is_retried_with_the_partial_handle() -> None:
    host = new_host()
    start = host.run().only("start_run")
    partial = RunHandle(backend=HANDLE.backend, instance_id=INSTANCE, response_ids=[])
    waiting = host.complete(start, step(RunStatus.THROTTLED, handle=partial)).run()
    (timer,) = waiting.timers()
    retry = host.fire(timer).run().only("start_run")
    assert StartInput.from_json(retry.input).handle == partial
    episode = host.complete(retry, completed("fine")).run()
    finish_with_teardown(host, episode)


# -- continue-as-new --


def test_long_run_continues_as_new_carrying_its_state() -> None:
    host = new_host(history_event_limit=20)
    poll = poll_after(host, started(host))
    tools = host.complete(poll, requires(call("c-1", "my_cat_born_date", cat_name="M"))).run()
    (tool,) = tools.activities("run_tool")
    submit = host.complete(tool, tool_result(tool, {"cat_born_date": "2016-01-01"})).run()
    episode = host.complete(submit.only("submit_tool_outputs"), pending(poll_after_ms=900)).run()

    assert episode.done and episode.error is None
    assert episode.new == []  # no timer, and no teardown: the run goes on
    carried = episode.new_actions[-1]
    assert carried["actionType"] == 4  # ContinueAsNew

    # the next execution: no new start, it waits (the carried hint) and polls
    assert host.executions == 2 and host.input["generation"] == 1
    assert host.input["last"]["poll_after_ms"] == 900
    resumed = host.run()
    (timer,) = resumed.timers()
    assert timer.at - host.now == timedelta(milliseconds=900)
    assert progress(resumed).tool_calls == 1
    poll = host.fire(timer).run().only("poll_run")
    assert poll.input == HANDLE.to_json()
    final = finish_with_teardown(host, host.complete(poll, completed("long answer")).run())
    outcome = result(final)
    assert outcome.answer == "long answer"
    assert [t.call_id for t in outcome.tool_calls] == ["c-1"]  # carried from execution 1
    assert outcome.started_at == START
    assert outcome.usage.total_tokens == 2 * (10 + 10)
    assert activity_counts(host)["start_run"] == 0


def test_executions_keep_continuing_as_new_while_the_run_is_pending() -> None:
    host = new_host(history_event_limit=20, deadline_seconds=3_600)
    episode = started(host)
    polls = 0
    while host.executions < 4:
        if episode.done:  # continued as new: the next execution's first episode
            episode = host.run()
        poll = poll_after(host, episode)
        polls += 1
        episode = host.complete(poll, pending()).run()
        assert polls < 20, "the execution never continued as new"
    assert polls <= 3 * 3  # a handful of polls per execution, never unbounded history
    assert len(host.history) < 20


def test_no_continue_as_new_while_a_cancel_event_is_unread() -> None:
    """An event still unread when an execution continues as new would be dropped by
    the SDK; the cancel raised in the same episode must be honoured instead."""
    host = new_host(history_event_limit=20)
    poll = poll_after(host, started(host))
    # same setup as above, which continues as new here; now a cancel comes along
    tools = host.complete(poll, requires(call("c-1", "my_cat_born_date", cat_name="M"))).run()
    (tool,) = tools.activities("run_tool")
    submit = host.complete(tool, tool_result(tool, {"cat_born_date": "2016-01-01"})).run()
    episode = (
        host.complete(submit.only("submit_tool_outputs"), pending())
        .raise_event(CANCEL_EVENT, {"reason": "stop"})
        .run()
    )
    assert host.executions == 1
    assert all(a["actionType"] != 4 for a in episode.new_actions)  # no ContinueAsNew
    # it waited instead, which read the event: the timer lost the race and is cancelled
    assert episode.names() == ["timer", "cancel_run"]
    assert episode.timers()[0].cancelled
    cancel = episode.activities("cancel_run")[0]
    teardown = host.complete(cancel, step(RunStatus.CANCELLED)).run()
    final = finish_with_teardown(host, teardown)
    assert result(final).outcome is Outcome.CANCELLED


# -- replay --


def test_replaying_a_recorded_history_twice_gives_the_same_actions_at_every_step() -> None:
    host = new_host()
    episodes = [host.run()]
    episodes.append(host.complete(episodes[-1].only("start_run"), pending()).run())
    episodes.append(host.fire(episodes[-1].timers()[0]).run())
    cat = call("c-1", "my_cat_born_date", cat_name="Mike")
    episodes.append(host.complete(episodes[-1].only("poll_run"), requires(cat)).run())
    (tool,) = episodes[-1].activities("run_tool")
    episodes.append(host.complete(tool, tool_result(tool, {"cat_born_date": "x"})).run())
    # after each episode, a replay of everything recorded reproduces its output
    replays = []
    for _ in range(2):
        replays.append(host.replay())
    assert replays[0] == replays[1] == (episodes[-1].state, None)
    assert episodes[-1].names() == ["submit_tool_outputs"]
    # the cumulative actions only ever grew: earlier ones are replayed unchanged
    flat = [list(flatten(e.state["actions"])) for e in episodes]
    for earlier, later in pairwise(flat):
        assert later[: len(earlier)] == earlier


def test_a_history_the_orchestrator_no_longer_matches_is_reported() -> None:
    host = new_host()
    start = host.run().only("start_run")
    host.complete(start, pending()).run()
    # rewrite history: the first task becomes a different activity
    scheduled = next(e for e in host.history if e["EventType"] == 4)
    host.slots[0].name = scheduled["Name"] = "poll_run"
    with pytest.raises(NondeterminismError):
        host.run()
