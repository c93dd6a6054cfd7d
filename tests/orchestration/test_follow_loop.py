"""Replay tests of the loop when start and submit follow their model turns.

A followed start or submit comes back with the state the turn rested in
(requires_action, completed, ...) instead of `pending`, so the loop acts on it at
once: no timer, no poll. When the budget passed first it comes back `pending` and
the durable-timer polling takes over. A cancel raised while a turn is followed is
honoured as soon as the follow returns, so the budget bounds its delay.
"""

from __future__ import annotations

from datetime import timedelta

from durable_assistant.model import Outcome, RunStatus
from durable_assistant.run_loop import CANCEL_EVENT
from tests.orchestration.history import Episode, OrchestrationHost
from tests.orchestration.runs import (
    activity_counts,
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

CAT = call("call-cat", "my_cat_born_date", cat_name="Mike")
FLIGHTS = call("call-flights", "get_flights", date_1="2016-03-01", date_2="2021-04-04")


def _tools_then_submit(host: OrchestrationHost, episode: Episode, output: object) -> Episode:
    (tool,) = episode.activities("run_tool")
    return host.complete(tool, tool_result(tool, output)).run()


def test_followed_turns_need_no_timer_and_no_poll() -> None:
    host = new_host()
    start = host.run().only("start_run")
    tools = host.complete(start, requires(CAT)).run()
    assert tools.names() == ["run_tool"]  # straight to the tool: nothing waits
    submit = _tools_then_submit(host, tools, {"cat_born_date": "2016-03-01"})
    tools = host.complete(submit.only("submit_tool_outputs"), requires(FLIGHTS)).run()
    submit = _tools_then_submit(host, tools, {"flights": 1860})
    answer = "1860 flights."
    teardown = host.complete(submit.only("submit_tool_outputs"), completed(answer)).run()
    final = finish_with_teardown(host, teardown)
    assert result(final).answer == answer
    assert activity_counts(host)["poll_run"] == 0
    assert not [s for s in host.slots if s.is_timer]


def test_a_turn_longer_than_the_budget_falls_back_to_durable_polling() -> None:
    host = new_host(poll_initial_ms=500)
    start = host.run().only("start_run")
    tools = host.complete(start, requires(CAT)).run()
    submit = _tools_then_submit(host, tools, {"cat_born_date": "2016-03-01"})
    # the follow let go: the submit says pending, a timer at the first interval follows
    waiting = host.complete(submit.only("submit_tool_outputs"), pending()).run()
    (timer,) = waiting.timers()
    assert timer.at - host.now == timedelta(milliseconds=500)
    poll = host.fire(timer).run().only("poll_run")
    teardown = host.complete(poll, completed("late answer")).run()
    assert result(finish_with_teardown(host, teardown)).answer == "late answer"


def test_a_cancel_raised_while_a_turn_is_followed_is_honoured_when_it_returns() -> None:
    host = new_host()
    start = host.run().only("start_run")
    tools = host.complete(start, requires(CAT)).run()
    submit = _tools_then_submit(host, tools, {"cat_born_date": "2016-03-01"})
    following = submit.only("submit_tool_outputs")
    assert host.raise_event(CANCEL_EVENT, {"reason": "stop"}).run().new == []
    # the turn came to rest asking for a tool: the cancel wins, no tool runs
    cancel = host.complete(following, requires(FLIGHTS)).run().only("cancel_run")
    teardown = host.complete(cancel, step(RunStatus.CANCELLED)).run()
    final = finish_with_teardown(host, teardown)
    assert result(final).outcome is Outcome.CANCELLED
    assert activity_counts(host)["run_tool"] == 1
