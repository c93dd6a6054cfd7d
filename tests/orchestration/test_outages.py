"""Outages waited out: from orchestration version 1.1, a model call an outage failed is
called again after a durable timer, with backoff, while the deadline allows; other
failures end the run at once. Older instances keep their fixed retries.

Driven through the real replay executor (`tests/orchestration/history.py`).
"""

from __future__ import annotations

from datetime import timedelta

from durable_assistant.model import Outcome, RunStatus, StartInput
from durable_assistant.polling import MODEL_CALL_RETRY
from durable_assistant.run_loop import CANCEL_EVENT
from tests.orchestration.history import START, OrchestrationHost, Scheduled
from tests.orchestration.runs import (
    assert_ended_after_one_teardown,
    completed,
    finish_with_teardown,
    new_host,
    pending,
    result,
    step,
)

OUTAGE = "Activity function 'start_run' failed: ServiceUnavailableError: Azure OpenAI answered 503"
POLL_OUTAGE = (
    "Activity function 'poll_run' failed: ServiceUnavailableError: "
    "the app's storage could not be reached"
)


def host_of(version: str = "1.1", **plan: object) -> OrchestrationHost:
    host = new_host(**plan)
    host.version = version
    return host


def fail_and_wait(host: OrchestrationHost, call: Scheduled, reason: str) -> Scheduled:
    """Fail `call` once; the timer the orchestration sets before calling again."""
    episode = host.fail(call, reason).run()
    (timer,) = episode.timers()
    assert episode.activities() == [], episode.names()
    return timer


def test_an_outage_at_the_start_is_waited_out_with_backoff_until_the_call_goes() -> None:
    host = host_of()
    start = host.run().only("start_run")
    assert start.retry is None  # the loop retries, not the host's fixed options
    waits = []
    for _ in range(6):
        timer = fail_and_wait(host, start, OUTAGE)
        waits.append((timer.at - host.now).total_seconds())
        start = host.fire(timer).run().only("start_run")
        assert StartInput.from_json(start.input).instance_id == host.instance_id
    assert waits == [1, 2, 4, 8, 10, 10]  # far more than the old 4 attempts
    final = finish_with_teardown(host, host.complete(start, completed("42")).run())
    assert result(final).outcome is Outcome.COMPLETED
    assert result(final).answer == "42"


def test_an_outage_of_a_poll_is_waited_out_and_the_backoff_starts_over() -> None:
    host = host_of()
    start = host.run().only("start_run")
    (timer,) = host.complete(start, pending()).run().timers()
    poll = host.fire(timer).run().only("poll_run")
    first = fail_and_wait(host, poll, POLL_OUTAGE)
    assert first.at - host.now == timedelta(seconds=1)
    poll = host.fire(first).run().only("poll_run")
    second = fail_and_wait(host, poll, POLL_OUTAGE)
    assert second.at - host.now == timedelta(seconds=2)
    poll = host.fire(second).run().only("poll_run")
    (timer,) = host.complete(poll, pending()).run().timers()
    poll = host.fire(timer).run().only("poll_run")
    again = fail_and_wait(host, poll, POLL_OUTAGE)
    assert again.at - host.now == timedelta(seconds=1)  # a call went through meanwhile
    poll = host.fire(again).run().only("poll_run")
    finish_with_teardown(host, host.complete(poll, completed("42")).run())


def test_an_outage_past_the_deadline_ends_the_run_with_the_deadline_and_its_cause() -> None:
    host = host_of(deadline_seconds=5)
    start = host.run().only("start_run")
    deadline = START + timedelta(seconds=5)
    wakes = []
    while True:
        timer = fail_and_wait(host, start, OUTAGE)
        wakes.append(timer.at)
        episode = host.fire(timer).run()
        if timer.at >= deadline:
            break
        start = episode.only("start_run")
    assert [(at - START).total_seconds() for at in wakes] == [1, 3, 5]  # never past it
    final = finish_with_teardown(host, episode)  # nothing started: nothing to cancel
    ended = result(final)
    assert ended.outcome is Outcome.DEADLINE_EXCEEDED
    assert ended.reason == (
        "the run did not finish within its deadline of 5 s (it was waiting out an outage: "
        "start_run: Azure OpenAI answered 503)"
    )
    assert final.error is None


def test_a_cancel_during_an_outage_wait_ends_the_run_at_once() -> None:
    host = host_of()
    start = host.run().only("start_run")
    fail_and_wait(host, start, OUTAGE)
    episode = host.raise_event(CANCEL_EVENT, {"reason": "enough"}).run()
    final = finish_with_teardown(host, episode)  # no start again, nothing to cancel
    assert result(final).outcome is Outcome.CANCELLED


def test_a_failure_that_is_not_an_outage_ends_the_run_without_a_retry() -> None:
    host = host_of()
    start = host.run().only("start_run")
    (timer,) = host.complete(start, pending()).run().timers()
    poll = host.fire(timer).run().only("poll_run")
    refused = (
        "Activity function 'poll_run' failed: CredentialsRejectedError: Azure OpenAI refused "
        "the managed identity's token (401)"
    )
    cancel = host.fail(poll, refused).run().only("cancel_run")
    final = finish_with_teardown(host, host.complete(cancel, step(RunStatus.CANCELLED)).run())
    assert final.error is not None and "refused the managed identity's token" in final.error
    assert_ended_after_one_teardown(host, final)


def test_instances_of_an_older_version_keep_their_fixed_retries() -> None:
    for version in ("", "1.0"):
        host = host_of(version)
        start = host.run().only("start_run")
        assert start.retry is not None
        assert start.retry["maxNumberOfAttempts"] == MODEL_CALL_RETRY.max_attempts
        episode = host.fail_every_attempt(start, OUTAGE)
        final = finish_with_teardown(host, episode)
        assert final.error is not None and "503" in final.error
