"""Both backends against a misbehaving emulator: throttling, 5xx, failed and expired runs."""

from __future__ import annotations

import time

import openai
import pytest

from durable_assistant.backends.errors import DEFAULT_RETRY_AFTER_SECONDS
from durable_assistant.model import Backend, RunHandle, RunStatus
from emulator.testing import RunningEmulator
from tests.support.backends import Harness, emulator_settings, make_harness

# The routes the emulator counts (and injects faults on), per backend.
POLL_ROUTE = {
    Backend.ASSISTANTS: "GET /threads/{thread_id}/runs/{run_id}",
    Backend.RESPONSES: "GET /responses/{response_id}",
}
CREATE_ROUTE = {
    Backend.ASSISTANTS: "POST /threads/{thread_id}/runs",
    Backend.RESPONSES: "POST /responses",
}


def served(harness: Harness, route: str) -> int:
    """How many requests the emulator counted on `route`."""
    counted: dict[str, int] = harness.emulator.counts()["requests"]
    return sum(n for key, n in counted.items() if key == route or key.endswith(" " + route))


def teardown_leaves_nothing(harness: Harness, handle: RunHandle) -> None:
    report = harness.backend.teardown(handle)
    assert report.failed == []
    assert set(harness.live().values()) == {0}


def test_a_429_then_success_is_absorbed_by_the_sdk(harness: Harness) -> None:
    step = harness.start()
    route = POLL_ROUTE[harness.kind]
    harness.emulator.configure(
        retry_after=None,
        retry_after_ms=10,
        faults=[{"fault": "429", "count": 1, "route": route}],
    )
    before = served(harness, route)

    polled = harness.backend.poll(step.handle)

    assert polled.state.status is not RunStatus.THROTTLED
    assert served(harness, route) - before == 2  # the 429, then the SDK's retry
    end = harness.play(polled)
    assert end.state.status is RunStatus.COMPLETED
    teardown_leaves_nothing(harness, end.handle)


def test_a_429_that_outlasts_the_sdk_retries_is_a_throttled_state(harness: Harness) -> None:
    step = harness.start()
    route = POLL_ROUTE[harness.kind]
    harness.emulator.configure(
        retry_after=None,
        retry_after_ms=30,
        faults=[{"fault": "429", "count": 2, "route": route}],  # max_retries is 1
    )

    throttled = harness.backend.poll(step.handle)

    assert throttled.state.status is RunStatus.THROTTLED
    assert throttled.state.retry_after_seconds == pytest.approx(0.03)
    assert throttled.state.reason is not None
    assert "throttled" in throttled.state.reason
    assert throttled.handle == step.handle
    # the orchestration waits it out and polls again: the run went on meanwhile
    end = harness.play(harness.backend.poll(throttled.handle))
    assert end.state.status is RunStatus.COMPLETED
    teardown_leaves_nothing(harness, end.handle)


def test_a_long_retry_after_is_not_slept_in_the_activity(harness: Harness) -> None:
    step = harness.start()
    route = POLL_ROUTE[harness.kind]
    harness.emulator.configure(
        retry_after=300,
        retry_after_ms=None,
        faults=[{"fault": "429", "count": 1, "route": route}],
    )
    began = time.monotonic()

    throttled = harness.backend.poll(step.handle)

    assert time.monotonic() - began < 2
    assert throttled.state.status is RunStatus.THROTTLED
    assert throttled.state.retry_after_seconds == 300
    assert served(harness, route) == 1  # over two minutes: the SDK does not retry
    teardown_leaves_nothing(harness, throttled.handle)


@pytest.mark.parametrize("kind", list(Backend), ids=lambda b: b.value)
def test_a_429_without_a_wait_header_still_gives_a_wait(
    emulator: RunningEmulator, clean_env: pytest.MonkeyPatch, kind: Backend
) -> None:
    settings = emulator_settings(emulator.url, openai_max_retries=0)
    harness = make_harness(kind, emulator, settings)
    step = harness.start()
    emulator.configure(retry_after=None, retry_after_ms=None, faults=[{"fault": "429", "count": 1}])

    throttled = harness.backend.poll(step.handle)

    assert throttled.state.status is RunStatus.THROTTLED
    assert throttled.state.retry_after_seconds == DEFAULT_RETRY_AFTER_SECONDS
    teardown_leaves_nothing(harness, step.handle)


def test_a_start_throttled_midway_resumes_without_duplicates(harness: Harness) -> None:
    route = CREATE_ROUTE[harness.kind]
    harness.emulator.configure(
        retry_after=None,
        retry_after_ms=10,
        faults=[{"fault": "429", "count": 2, "route": route}],
    )
    start = harness.start_input()

    throttled = harness.backend.start(start)

    assert throttled.state.status is RunStatus.THROTTLED
    resumed = throttled
    for _ in range(3):  # creates are not retried by the SDK: each 429 comes back
        resumed = harness.backend.start(start.model_copy(update={"handle": resumed.handle}))
        if resumed.state.status is not RunStatus.THROTTLED:
            break
    assert resumed.state.status is not RunStatus.THROTTLED
    live = harness.live()
    if harness.kind is Backend.ASSISTANTS:
        assert throttled.handle.assistant_id == resumed.handle.assistant_id
        assert throttled.handle.thread_id == resumed.handle.thread_id
        assert (live["assistants"], live["threads"], live["runs"]) == (1, 1, 1)
    else:
        assert throttled.handle.response_id is None
        assert live["responses"] == 1
    end = harness.play(resumed)
    assert end.state.status is RunStatus.COMPLETED
    teardown_leaves_nothing(harness, end.handle)


@pytest.mark.parametrize(
    ("fault", "error"),
    [("500", openai.InternalServerError), ("drop", openai.APIConnectionError)],
)
def test_a_passing_fault_is_retried_and_a_lasting_one_propagates(
    harness: Harness, fault: str, error: type[Exception]
) -> None:
    step = harness.start()
    route = POLL_ROUTE[harness.kind]
    harness.emulator.configure(faults=[{"fault": fault, "count": 1, "route": route}])
    assert harness.backend.poll(step.handle).state.status is not RunStatus.THROTTLED
    assert served(harness, route) == 2

    harness.emulator.configure(faults=[{"fault": fault, "count": 2, "route": route}])
    with pytest.raises(error):
        harness.backend.poll(step.handle)  # the activity's retry options take over
    teardown_leaves_nothing(harness, step.handle)


@pytest.mark.parametrize(
    ("outcome", "status", "why"),
    [
        ("failed", RunStatus.FAILED, "server_error"),
        ("rate_limited", RunStatus.FAILED, "rate_limit_exceeded"),
        ("incomplete", RunStatus.INCOMPLETE, "max_"),
    ],
)
def test_a_run_that_ends_badly_says_why(
    harness: Harness, outcome: str, status: RunStatus, why: str
) -> None:
    harness.emulator.configure(outcomes=[{"outcome": outcome, "count": 1}])

    end = harness.play()

    assert end.state.status is status
    assert end.state.reason is not None
    assert why in end.state.reason  # the service's own code or reason, passed on
    assert end.state.answer is None
    teardown_leaves_nothing(harness, end.handle)


@pytest.fixture
def assistants(emulator: RunningEmulator, clean_env: pytest.MonkeyPatch) -> Harness:
    """The Assistants backend alone: only its runs have an `expired` status."""
    return make_harness(Backend.ASSISTANTS, emulator, emulator_settings(emulator.url))


def test_an_expired_run(assistants: Harness) -> None:
    assistants.emulator.configure(outcomes=[{"outcome": "expired", "count": 1}])

    end = assistants.play()

    assert end.state.status is RunStatus.EXPIRED
    assert end.state.reason is not None
    assert "expired" in end.state.reason
    teardown_leaves_nothing(assistants, end.handle)


def test_outputs_submitted_too_late_find_the_run_expired(assistants: Harness) -> None:
    assistants.emulator.configure(run_expiry_seconds=0.3)
    step = assistants.settle(assistants.start())
    assert step.state.status is RunStatus.REQUIRES_ACTION
    results = assistants.run_tools(step)
    time.sleep(0.35)

    late = assistants.submit(step, results)  # the service answers 400: not an error for us

    assert late.state.status is RunStatus.EXPIRED
    assert late.handle == step.handle
    teardown_leaves_nothing(assistants, late.handle)


def test_a_retry_after_over_the_cap_goes_back_to_the_orchestration(harness: Harness) -> None:
    """A 30 s wait is within what the SDK would sleep (two minutes), but not inside an
    activity: the start comes back throttled at once, for a durable timer."""
    route = CREATE_ROUTE[harness.kind]
    harness.emulator.configure(
        retry_after=30, retry_after_ms=None, faults=[{"fault": "429", "count": 1, "route": route}]
    )
    start = harness.start_input()

    throttled = harness.backend.start(start)

    assert throttled.state.status is RunStatus.THROTTLED
    assert throttled.state.retry_after_seconds == 30
    assert served(harness, route) == 1  # the SDK did not sleep and retry
    resumed = harness.backend.start(start.model_copy(update={"handle": throttled.handle}))
    end = harness.play(resumed)
    assert end.state.status is RunStatus.COMPLETED
    teardown_leaves_nothing(harness, end.handle)
