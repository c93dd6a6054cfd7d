"""`?wait=N` on the run routes: the run's view as soon as its outcome is final.

A run's outcome and answer are final when its end is recorded in its event log,
which the teardown activity does first, before it deletes what the run created; the
orchestration's custom status says `tearing_down` from just before. So a waiting
caller answers with the recorded end while the orchestration finishes its teardown
behind the answer. It reads little while it waits: a write of the end in this
process wakes it at once, with the end at hand (then only the status is read, not
the log); else it reads the orchestration's status after 1 s, then
with gaps that grow up to `MAX_STATUS_CHECK_SECONDS` (which also sees a run
terminated from outside, that records no end, and an end written on another
instance), and once the status says `tearing_down`, the status
and the log from `WAIT_POLL_MS` on, with gaps growing up to
`MAX_TEARDOWN_CHECK_SECONDS` (an end written on another instance; an end that cannot
be read or whose answer was too long for the log, for which the result is awaited).
Each of those reads of the log takes only the rows written since the one before. A
wait for a run its caller has just started reads nothing first.

Each of those reads is a request to the Functions host (and on Azure, a storage
read), so they come rarely: they are the fallback, not the way a wait ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterator

from durable_assistant.api import (
    WAIT_POLL_MS,
    RunView,
    recorded_end,
    with_recorded_end,
)
from durable_assistant.event_log import EndWatch, RunEvents
from durable_assistant.events import StoredEvent
from durable_assistant.logging_setup import run_log
from durable_assistant.model import Phase

logger = logging.getLogger(__name__)

STATUS_CHECK_SECONDS = 1.0
"""How soon a wait first reads the orchestration's status again; each later gap is
`STATUS_CHECK_GROWTH` times the one before, up to `MAX_STATUS_CHECK_SECONDS` (until
the teardown begins): so an end this process did not write (another instance's, a
termination) is seen at most that late."""

STATUS_CHECK_GROWTH = 1.5
MAX_STATUS_CHECK_SECONDS = 3.0
"""Short, as on Azure a run's teardown often runs on another instance than the waiting
request: there only a read shows the end. Longer gaps save little: status reads are
about 1 % of the host's CPU per run in a profile of the concurrent bench."""

MAX_TEARDOWN_CHECK_SECONDS = 1.0
"""The longest gap between reads once the run tears down: its end is due any moment
(the teardown writes it first), unless the teardown waits for a free activity slot."""

StatusView = Callable[[], Awaitable[RunView | None]]
"""The run's view from its durable status alone; None for an unknown instance."""

EventLog = Callable[[], RunEvents]
"""The run event log; raises when there is none to read (settings, storage)."""


class LogTail:
    """Where the last read of a run's log ended, so the next reads only what came
    after it: the end is the run's last event, and a log of any length is read once."""

    def __init__(self) -> None:
        self.after = 0

    def read(self, log: RunEvents, instance_id: str) -> list[StoredEvent]:
        """The events stored after the last read's (the run is over: all of them)."""
        events = log.read(instance_id, self.after, complete=True)
        self.after = max([self.after, *(event.seq for event in events)])
        return events


async def view_now(
    read_status: StatusView,
    event_log: EventLog,
    instance_id: str,
    end_event: StoredEvent | None = None,
    tail: LogTail | None = None,
) -> RunView | None:
    """The run's view: its status, plus its recorded end while it tears down (read
    from the log, after where `tail` last ended, unless `end_event` is the end this
    process wrote)."""
    view = await read_status()
    if view is None or view.done or view.phase is not Phase.TEARING_DOWN:
        return view
    if end_event is not None:
        events = [end_event]
    else:
        try:
            log = event_log()
            events = await asyncio.to_thread((tail or LogTail()).read, log, instance_id)
        except Exception:
            run_log(logger, instance_id).warning(
                "run event log unreadable; showing the status alone"
            )
            return view
    end = recorded_end(events)
    return view if end is None else with_recorded_end(view, end)


async def view_when_done(
    read_status: StatusView,
    event_log: EventLog,
    instance_id: str,
    wait_seconds: float,
    *,
    just_started: bool = False,
) -> RunView | None:
    """The run's view once it is `done`, or as it is after `wait_seconds`.

    `just_started`: the caller started the run a moment ago, so with time to wait
    there is nothing to read yet (the first read comes after a while or at its end)."""
    try:
        log = event_log()
    except Exception:
        run_log(logger, instance_id).warning("no run event log; waiting on the status alone")
        log = None
    loop = asyncio.get_running_loop()
    deadline = loop.time() + max(wait_seconds, 0.0)
    check = STATUS_CHECK_SECONDS
    teardown_check = WAIT_POLL_MS / 1000
    look = not just_started or wait_seconds <= 0
    tail = LogTail()
    with _end_written(log, instance_id) as watch:
        while True:
            interval = check
            if look:
                watch.written.clear()  # an end written from here on wakes the wait below
                view = await view_now(read_status, event_log, instance_id, watch.end, tail)
                if view is None or view.done or loop.time() >= deadline:
                    return view
                # Teardown is short: look often then (the end may be written on another
                # instance, or be too long for the log); before it, a write here wakes us.
                if view.phase is Phase.TEARING_DOWN:
                    interval = teardown_check
                    teardown_check = min(
                        teardown_check * STATUS_CHECK_GROWTH, MAX_TEARDOWN_CHECK_SECONDS
                    )
            look = True
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(watch.written.wait(), min(interval, deadline - loop.time()))
            check = min(check * STATUS_CHECK_GROWTH, MAX_STATUS_CHECK_SECONDS)


@contextlib.contextmanager
def _end_written(log: RunEvents | None, instance_id: str) -> Iterator[EndWatch]:
    """Set when this process writes the run's end (never, without a log)."""
    if log is None:
        yield EndWatch()
        return
    with log.end_written(instance_id) as watch:
        yield watch
