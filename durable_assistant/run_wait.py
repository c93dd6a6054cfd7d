"""`?wait=N` on the run routes: the run's view as soon as its outcome is final.

A run's outcome and answer are final when its end is recorded in its event log,
which the teardown activity does first, before it deletes what the run created. So
a waiting caller follows the log (woken at once by a write in this process, by a
read of the table on another instance) and answers with the recorded end, while
the orchestration finishes its teardown behind the answer. The orchestration's
status is read too, every `STATUS_CHECK_SECONDS`: a run terminated from outside
records no end. When the log cannot be read, or its end carries an answer cut
short, the wait falls back to reading the status alone, every `WAIT_POLL_MS`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from durable_assistant.api import (
    WAIT_POLL_MS,
    RunView,
    recorded_end,
    with_recorded_end,
)
from durable_assistant.event_log import RunEvents
from durable_assistant.events import EventType
from durable_assistant.logging_setup import run_log
from durable_assistant.model import Phase

logger = logging.getLogger(__name__)

STATUS_CHECK_SECONDS = 1.0
"""While following the log, how often the orchestration's status is read as well."""

StatusView = Callable[[], Awaitable[RunView | None]]
"""The run's view from its durable status alone; None for an unknown instance."""

EventLog = Callable[[], RunEvents]
"""The run event log; raises when there is none to read (settings, storage)."""


async def view_now(
    read_status: StatusView, event_log: EventLog, instance_id: str
) -> RunView | None:
    """The run's view: its status, plus its recorded end while it tears down."""
    view = await read_status()
    if view is None or view.done or view.phase is not Phase.TEARING_DOWN:
        return view
    try:
        events = await event_log().next_events(instance_id, 0, 0)
    except Exception:
        run_log(logger, instance_id).warning("run event log unreadable; showing the status alone")
        return view
    end = recorded_end(events)
    return view if end is None else with_recorded_end(view, end)


async def view_when_done(
    read_status: StatusView, event_log: EventLog, instance_id: str, wait_seconds: float
) -> RunView | None:
    """The run's view once it is `done`, or as it is after `wait_seconds`."""
    view = await view_now(read_status, event_log, instance_id)
    if view is None or view.done or wait_seconds <= 0:
        return view
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_seconds
    log: RunEvents | None = None
    try:
        log = event_log()
    except Exception:
        run_log(logger, instance_id).warning("no run event log; waiting on the status alone")
    after = 0
    status_read_at = loop.time()
    while (remaining := deadline - loop.time()) > 0:
        if log is None:
            await asyncio.sleep(min(WAIT_POLL_MS / 1000, remaining))
        else:
            try:
                events = await log.next_events(
                    instance_id, after, min(STATUS_CHECK_SECONDS, remaining)
                )
            except Exception:
                run_log(logger, instance_id).warning(
                    "run event log unreadable; waiting on the status alone"
                )
                log = None
                continue
            if events:
                after = events[-1].seq
                end = recorded_end(events)
                if end is not None:
                    view = await read_status()
                    return None if view is None else with_recorded_end(view, end)
                if any(event.type is EventType.END for event in events):
                    log = None  # an answer cut short in the log: wait for the result
                if loop.time() - status_read_at < STATUS_CHECK_SECONDS:
                    continue
        view = await read_status()
        status_read_at = loop.time()
        if view is None or view.done:
            return view
    return view
