"""Timer triggers on their NCRONTAB schedule, and the admin endpoint's "run it now"."""

from __future__ import annotations

import asyncio
import json
import logging
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from azure.functions import meta
from azure.functions.timer import TimerRequestConverter
from croniter import croniter

from devhost.config import expand_settings
from devhost.indexer import AppIndex, IndexedFunction, TriggerKind
from devhost.invoker import Invoker

LOGGER = logging.getLogger("devhost.timers")

_TIMESPAN = re.compile(r"^(?:(\d+)\.)?(\d{1,2}):(\d{2}):(\d{2})$")


class Schedule:
    """A 6-field NCRONTAB expression (seconds first) or a `[d.]hh:mm:ss` interval."""

    def __init__(self, expression: str) -> None:
        self.expression = expression.strip()
        span = _TIMESPAN.match(self.expression)
        self.interval: timedelta | None = None
        if span:
            days, hours, minutes, seconds = (int(g or 0) for g in span.groups())
            self.interval = timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)
        elif len(self.expression.split()) != 6:
            raise ValueError(
                f"'{self.expression}' is not a valid NCRONTAB expression "
                "(six fields: second minute hour day month day-of-week)"
            )
        else:
            croniter(self.expression, second_at_beginning=True)

    def next_after(self, moment: datetime) -> datetime:
        """First occurrence strictly after `moment` (UTC)."""
        if self.interval is not None:
            return moment + self.interval
        cron = croniter(self.expression, moment, second_at_beginning=True)
        result = cron.get_next(datetime)
        assert isinstance(result, datetime)
        return result


def timer_request_json(schedule: Schedule, last: datetime | None, nxt: datetime) -> str:
    """The timer trigger payload the host sends."""
    return json.dumps(
        {
            "Schedule": {"AdjustForDST": True},
            "ScheduleStatus": {
                "Last": (last or datetime.min.replace(tzinfo=UTC)).isoformat(),
                "Next": nxt.isoformat(),
                "LastUpdated": datetime.now(UTC).isoformat(),
            },
            "IsPastDue": False,
        }
    )


class TimerTriggers:
    """Runs each timer-triggered function on its schedule (never overlapping itself)."""

    def __init__(self, index: AppIndex, invoker: Invoker) -> None:
        self._invoker = invoker
        self._index = index
        self.schedules: dict[str, Schedule] = {}
        for function in index.of_kind(TriggerKind.TIMER):
            self.schedules[function.name] = Schedule(
                expand_settings(str(function.trigger["schedule"]))
            )
        self._tasks: list[asyncio.Task[Any]] = []

    def start(self) -> None:
        """One loop per timer function."""
        for function in self._index.of_kind(TriggerKind.TIMER):
            self._tasks.append(asyncio.create_task(self._loop(function), name=function.name))

    async def stop(self) -> None:
        """Cancel the loops."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _loop(self, function: IndexedFunction) -> None:
        schedule = self.schedules[function.name]
        last: datetime | None = None
        if function.trigger.get("runOnStartup"):
            await self.fire(function, timer_request_json(schedule, None, datetime.now(UTC)))
        while True:
            now = datetime.now(UTC)
            nxt = schedule.next_after(now)
            await asyncio.sleep(max(0.0, (nxt - datetime.now(UTC)).total_seconds()))
            await self.fire(function, timer_request_json(schedule, last, schedule.next_after(nxt)))
            last = nxt

    async def fire(self, function: IndexedFunction, payload: str) -> None:
        """Invoke a timer function once with a TimerRequest (errors are logged)."""
        request = TimerRequestConverter.decode(
            meta.Datum(type="json", value=payload), trigger_metadata=None
        )
        await run_logged(self._invoker, function, request)


async def run_logged(invoker: Invoker, function: IndexedFunction, value: Any) -> None:
    """Invoke a non-HTTP function and log its execution line."""
    await invoker.call_logged(function, value)
