"""When to poll next, when to give up, and how often to retry: pure timing rules.

The orchestrator asks these functions instead of deciding inline, so the rules are
unit-tested on their own and the orchestrator stays a thin, deterministic adapter.
Every time here comes from the caller (the orchestration's replay-safe clock); no
function reads the wall clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

GROWTH_FACTOR = 1.3
"""Each poll that finds the run still going waits this much longer than the last.

With the default 250 ms first wait and 1 s cap, the end of a model turn is seen
sooner than by a fixed 1 s poll on short turns and as soon on long ones, for a few
more polls per turn (measured in bench/, see docs/bench.md).
"""

HINT_FLOOR_MS = 50
HINT_CEILING_MS = 60_000
"""The service's `openai-poll-after-ms` hint is followed, within these bounds."""

THROTTLE_DEFAULT_SECONDS = 5.0
THROTTLE_FLOOR_SECONDS = 1.0
THROTTLE_CEILING_SECONDS = 300.0
"""A throttled call waits the service's Retry-After, within these bounds."""


@dataclass(frozen=True)
class RetryPolicy:
    """Durable retry options of one kind of activity (the SDK's RetryOptions as data).

    The Python SDK's retry options have no backoff: every retry waits
    `first_interval_ms`, and an activity runs at most `max_attempts` times.
    """

    first_interval_ms: int
    max_attempts: int


MODEL_CALL_RETRY = RetryPolicy(first_interval_ms=2_000, max_attempts=4)
"""cancel (and, on orchestration versions before 1.1, start/poll/submit): 5xx and
timeouts that outlasted the SDK's own retries."""

OUTAGE_FIRST_WAIT_MS = 1_000
OUTAGE_MAX_WAIT_MS = 10_000
"""A model call an outage failed is called again after 1 s, then 2, 4, 8, then every
10 s, for as long as the run's deadline allows (never past it)."""

OUTAGE_CALLS_PER_DEADLINE = 60
"""A run with a long deadline waits longer between calls (its deadline / 60, when
that is over 10 s), so an outage adds at most about this many calls, and their
timers, to its history."""

TOOL_RETRY = RetryPolicy(first_interval_ms=1_000, max_attempts=3)
"""A tool activity that crashed (a tool's own error is its output, never a failure)."""

TEARDOWN_RETRY = RetryPolicy(first_interval_ms=2_000, max_attempts=5)
"""Teardown tries harder: what it cannot delete waits for the purge."""


def outage_wait_ms(failures: int, deadline_seconds: int) -> int:
    """How long to wait after the `failures`-th failure in a row (1, 2, ...) of a call
    that an outage stopped, before calling again, in a run of `deadline_seconds`."""
    longest = max(OUTAGE_MAX_WAIT_MS, deadline_seconds * 1000 // OUTAGE_CALLS_PER_DEADLINE)
    exponent = min(max(failures - 1, 0), 30)
    return min(longest, OUTAGE_FIRST_WAIT_MS * (1 << exponent))


def next_interval_ms(current_ms: int, max_ms: int) -> int:
    """The interval after a poll that found the run still going: grown, capped."""
    return min(max_ms, max(current_ms + 1, int(current_ms * GROWTH_FACTOR)))


def wait_before_poll_ms(interval_ms: int, hint_ms: int | None) -> int:
    """How long to wait before the next poll: the service's hint when it gave one."""
    if hint_ms is None:
        return interval_ms
    return min(HINT_CEILING_MS, max(HINT_FLOOR_MS, hint_ms))


def throttle_wait_seconds(retry_after_seconds: float | None) -> float:
    """How long to wait out a throttled call before retrying it."""
    if retry_after_seconds is None:
        return THROTTLE_DEFAULT_SECONDS
    return min(THROTTLE_CEILING_SECONDS, max(THROTTLE_FLOOR_SECONDS, retry_after_seconds))


def deadline_after(started_at: datetime, deadline_seconds: int) -> datetime:
    """When a run that started at `started_at` must be over."""
    return started_at + timedelta(seconds=deadline_seconds)


def wake_at(now: datetime, wait_ms: float, deadline: datetime) -> datetime:
    """When a timer of `wait_ms` started now fires: never after the deadline."""
    return min(now + timedelta(milliseconds=wait_ms), deadline)


def past_deadline(now: datetime, deadline: datetime) -> bool:
    """True once the run's time is up."""
    return now >= deadline
