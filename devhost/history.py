"""History events in the shape DurableTask.Core sends to out-of-process SDKs."""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from typing import Any

Event = dict[str, Any]


class EventType(enum.IntEnum):
    """DurableTask.Core's HistoryEvent type numbers."""

    EXECUTION_STARTED = 0
    EXECUTION_COMPLETED = 1
    EXECUTION_FAILED = 2
    EXECUTION_TERMINATED = 3
    TASK_SCHEDULED = 4
    TASK_COMPLETED = 5
    TASK_FAILED = 6
    SUB_ORCHESTRATION_INSTANCE_CREATED = 7
    SUB_ORCHESTRATION_INSTANCE_COMPLETED = 8
    SUB_ORCHESTRATION_INSTANCE_FAILED = 9
    TIMER_CREATED = 10
    TIMER_FIRED = 11
    ORCHESTRATOR_STARTED = 12
    ORCHESTRATOR_COMPLETED = 13
    EVENT_SENT = 14
    EVENT_RAISED = 15
    CONTINUE_AS_NEW = 16
    GENERIC = 17
    HISTORY_STATE = 18
    EXECUTION_SUSPENDED = 19
    EXECUTION_RESUMED = 20


# Events that close a scheduled task, and the field naming the task's id.
COMPLETIONS: dict[EventType, str] = {
    EventType.TASK_COMPLETED: "TaskScheduledId",
    EventType.TASK_FAILED: "TaskScheduledId",
    EventType.SUB_ORCHESTRATION_INSTANCE_COMPLETED: "TaskScheduledId",
    EventType.SUB_ORCHESTRATION_INSTANCE_FAILED: "TaskScheduledId",
    EventType.TIMER_FIRED: "TimerId",
}

# Events that schedule something under a sequence id (EventId).
SCHEDULING = {
    EventType.TASK_SCHEDULED,
    EventType.SUB_ORCHESTRATION_INSTANCE_CREATED,
    EventType.TIMER_CREATED,
    EventType.EVENT_SENT,
}


def utcnow() -> datetime:
    """Aware UTC now (one place, so tests read the same clock)."""
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    """ISO-8601 UTC with microseconds and a Z, as DurableTask serialises timestamps."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def iso_seconds(moment: datetime) -> str:
    """`yyyy-MM-ddTHH:mm:ssZ`, the status API's createdTime/lastUpdatedTime format."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str) -> datetime:
    """Parse the timestamps the SDK and clients send (ISO, with or without Z/fraction)."""
    value = text.strip().replace("Z", "+00:00")
    moment = datetime.fromisoformat(value)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def event(kind: EventType, moment: datetime, event_id: int = -1, **fields: Any) -> Event:
    """One history event with the common fields every event carries."""
    return {
        "EventType": int(kind),
        "EventId": event_id,
        "IsPlayed": False,
        "Timestamp": iso(moment),
        **fields,
    }


def completion_id(item: Event) -> int | None:
    """Sequence id a completion event refers to (None for other events)."""
    key = COMPLETIONS.get(EventType(item["EventType"]))
    return None if key is None else int(item[key])


def type_name(item: Event) -> str:
    """Readable event type, for error messages and logs."""
    return EventType(item["EventType"]).name.title().replace("_", "")
