"""A small stand-in for the Durable host: builds histories, runs the real executor.

`OrchestrationHost` keeps one instance's history the way the Durable extension
records it (OrchestratorStarted / ExecutionStarted / TaskScheduled / TaskCompleted /
TaskFailed / TimerCreated / TimerFired / EventRaised / OrchestratorCompleted, with
DurableTask's task ids) and hands it, as the orchestrator trigger's JSON, to the
orchestrator function the worker would call. Each `run()` is one episode: the events
queued since the last one are appended, the orchestrator replays everything, and the
actions it returns are matched against what was already scheduled (a mismatch is a
nondeterminism error, as on the real host) while new ones are scheduled with fresh
ids and returned, so a test checks what the orchestrator asked for at each step.

Retry options are played like the host does: a failed attempt is followed by a
retry timer (its own id) and, once that fires, a new attempt (a new id); after the
last attempt the timer's firing makes the failure reach the orchestrator.
Keep a retried failure alone in its episode: ids are assigned in event order.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

START = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)

# DurableTask.Core HistoryEvent types and out-of-proc action types.
EXECUTION_STARTED, TASK_SCHEDULED, TASK_COMPLETED, TASK_FAILED = 0, 4, 5, 6
TIMER_CREATED, TIMER_FIRED, ORCHESTRATOR_STARTED, ORCHESTRATOR_COMPLETED = 10, 11, 12, 13
EVENT_RAISED = 15
CALL_ACTIVITY, CALL_ACTIVITY_WITH_RETRY, CONTINUE_AS_NEW, CREATE_TIMER = 0, 1, 4, 5
WAIT_FOR_EVENT, WHEN_ANY, WHEN_ALL = 6, 11, 12
ID_TAKING = {CALL_ACTIVITY, CALL_ACTIVITY_WITH_RETRY, 2, 3, CREATE_TIMER, 9}

OrchestratorEntry = Callable[[Any], str]


class NondeterminismError(AssertionError):
    """The orchestrator's actions no longer match what history recorded."""


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def flatten(actions: list[Any]) -> Iterator[dict[str, Any]]:
    """Actions in pre-order, compound actions (WhenAny/WhenAll) opened up."""
    for action in actions:
        if isinstance(action, list):
            yield from flatten(action)
        elif action["actionType"] in (WHEN_ANY, WHEN_ALL):
            yield from flatten(action["compoundActions"])
        else:
            yield action


@dataclass
class Scheduled:
    """One id-taking action as the host scheduled it: an activity or a timer."""

    kind: str  # "activity" or "timer"
    name: str
    input: Any
    task_id: int
    fire_at: datetime | None = None
    retry: dict[str, Any] | None = None
    attempts: int = 1
    retry_timer_id: int | None = None
    cancelled: bool = False
    events: dict[str, Any] | None = None  # the event slot the activity was handed

    @property
    def at(self) -> datetime:
        """When this timer fires."""
        assert self.fire_at is not None, f"{self.name} is not a timer"
        return self.fire_at

    @property
    def is_timer(self) -> bool:
        return self.kind == "timer"


@dataclass
class Episode:
    """What one run of the orchestrator produced."""

    state: dict[str, Any]
    error: str | None
    new: list[Scheduled]
    new_actions: list[dict[str, Any]]

    @property
    def done(self) -> bool:
        return bool(self.state.get("isDone")) or self.error is not None

    @property
    def output(self) -> Any:
        return self.state.get("output")

    @property
    def custom_status(self) -> Any:
        return self.state.get("customStatus")

    def activities(self, name: str | None = None) -> list[Scheduled]:
        return [s for s in self.new if s.kind == "activity" and name in (None, s.name)]

    def timers(self) -> list[Scheduled]:
        return [s for s in self.new if s.is_timer]

    def only(self, name: str) -> Scheduled:
        """The one new activity of this episode, which must be `name` (and no timer)."""
        assert [s.name for s in self.new] == [name], f"expected only {name}, got {self.names()}"
        return self.new[0]

    def names(self) -> list[str]:
        return [s.name for s in self.new]


@dataclass
class OrchestrationHost:
    """One orchestration instance, driven episode by episode."""

    orchestrator: OrchestratorEntry
    input: Any
    instance_id: str = "run-1"
    name: str = "run_orchestrator"
    version: str = ""
    now: datetime = START
    history: list[dict[str, Any]] = field(default_factory=list)
    slots: list[Scheduled] = field(default_factory=list)
    next_id: int = 0
    executions: int = 1
    _queued: list[dict[str, Any]] = field(default_factory=list)
    _host_scheduled: list[dict[str, Any]] = field(default_factory=list)
    _started: bool = False
    _by_task_id: dict[int, Scheduled] = field(default_factory=dict)
    _by_retry_timer: dict[int, Scheduled] = field(default_factory=dict)
    _others: list[dict[str, Any]] = field(default_factory=list)

    # -- events the test queues for the next episode --

    def advance(self, seconds: float) -> OrchestrationHost:
        self.now += timedelta(seconds=seconds)
        return self

    def complete(self, slot: Scheduled, result: Any) -> OrchestrationHost:
        self._queue(TASK_COMPLETED, TaskScheduledId=slot.task_id, Result=json.dumps(result))
        return self

    def fail(self, slot: Scheduled, reason: str, details: str = "") -> OrchestrationHost:
        """One failed attempt; with retry options the host then sets a retry timer."""
        self._queue(TASK_FAILED, TaskScheduledId=slot.task_id, Reason=reason, Details=details)
        if slot.retry is not None:
            timer_id = self._take_id()
            slot.retry_timer_id = timer_id
            self._by_retry_timer[timer_id] = slot
            fire_at = self.now + timedelta(
                milliseconds=slot.retry["firstRetryIntervalInMilliseconds"]
            )
            self._host_scheduled.append(self._event(TIMER_CREATED, timer_id, FireAt=iso(fire_at)))
        return self

    def fire_retry_timer(self, slot: Scheduled) -> OrchestrationHost:
        """The retry timer fires: a new attempt is scheduled while attempts remain."""
        assert slot.retry is not None and slot.retry_timer_id is not None
        self._queue(TIMER_FIRED, TimerId=slot.retry_timer_id, FireAt=iso(self.now))
        if slot.attempts < slot.retry["maxNumberOfAttempts"]:
            slot.task_id = self._take_id()
            slot.attempts += 1
            self._by_task_id[slot.task_id] = slot
            self._host_scheduled.append(
                self._event(TASK_SCHEDULED, slot.task_id, Name=slot.name, Input=slot.input)
            )
        slot.retry_timer_id = None
        return self

    def fail_every_attempt(self, slot: Scheduled, reason: str, details: str = "") -> Episode:
        """Fail `slot` on each attempt its retry options allow, an episode per event;
        the episode in which the failure finally reaches the orchestrator."""
        assert slot.retry is not None, f"{slot.name} has no retry options"
        while True:
            episode = self.fail(slot, reason, details).run()
            assert episode.new == [], (
                f"nothing may be scheduled between attempts: {episode.names()}"
            )
            self.advance(slot.retry["firstRetryIntervalInMilliseconds"] / 1000)
            last = slot.attempts >= slot.retry["maxNumberOfAttempts"]
            episode = self.fire_retry_timer(slot).run()
            if last:
                return episode
            assert episode.new == [], f"a retry schedules nothing new: {episode.names()}"

    def fire(self, timer: Scheduled) -> OrchestrationHost:
        """A durable timer fires (the clock moves to its fire time if it is later)."""
        assert timer.is_timer and timer.fire_at is not None
        self.now = max(self.now, timer.fire_at)
        self._queue(TIMER_FIRED, TimerId=timer.task_id, FireAt=iso(timer.fire_at))
        return self

    def raise_event(self, name: str, data: Any = None) -> OrchestrationHost:
        self._queue(EVENT_RAISED, Name=name, Input=json.dumps(data))
        return self

    # -- running --

    def run(self) -> Episode:
        """One episode: append queued events, run the orchestrator, schedule new work."""
        for event in self.history:
            event["IsPlayed"] = True
        self.history.append(self._event(ORCHESTRATOR_STARTED))
        if not self._started:
            self.history.append(
                self._event(
                    EXECUTION_STARTED,
                    OrchestrationInstance={
                        "InstanceId": self.instance_id,
                        "ExecutionId": f"exec-{self.executions}",
                    },
                    Name=self.name,
                    Version=self.version,
                    Input=json.dumps(self.input),
                    ParentInstance=None,
                )
            )
            self._started = True
        self.history.extend(self._queued)
        self._queued = []
        self.history.extend(self._host_scheduled)
        self._host_scheduled = []

        state, error = self.call(self.history)
        actions = list(flatten(state.get("actions", [])))
        new_actions = self._match(actions)
        new = self._schedule(new_actions)
        self.history.append(self._event(ORCHESTRATOR_COMPLETED))
        episode = Episode(state=state, error=error, new=new, new_actions=new_actions)
        if state.get("isDone") and actions and actions[-1]["actionType"] == CONTINUE_AS_NEW:
            self._continue_as_new(json.loads(actions[-1]["input"]))
        return episode

    def call(self, history: list[dict[str, Any]]) -> tuple[dict[str, Any], str | None]:
        """Run the orchestrator over `history` as the worker would; (state, error)."""
        return call_orchestrator(self.orchestrator, self.instance_id, history, history[1]["Input"])

    def replay(self) -> tuple[dict[str, Any], str | None]:
        """Run the orchestrator over the recorded history again (nothing new)."""
        return self.call(json.loads(json.dumps(self.history)))

    # -- internals --

    def _match(self, actions: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Check recorded actions against history; return the ones not yet scheduled."""
        taking = [a for a in actions if a["actionType"] in ID_TAKING]
        for slot, action in zip(self.slots, taking, strict=False):
            kind = "timer" if action["actionType"] == CREATE_TIMER else "activity"
            name = action.get("functionName", "timer")
            if (kind, name) != (slot.kind, slot.name):
                raise NondeterminismError(
                    f"history has {slot.kind} {slot.name!r} where the orchestrator now "
                    f"schedules {kind} {name!r}"
                )
            if kind == "timer":
                slot.cancelled = bool(action.get("isCanceled"))
        if len(taking) < len(self.slots):
            missing = [s.name for s in self.slots[len(taking) :]]
            raise NondeterminismError(f"the orchestrator no longer schedules {missing}")
        others = [a for a in actions if a["actionType"] not in ID_TAKING]
        return [*taking[len(self.slots) :], *others[len(self._others) :]]

    def _schedule(self, new_actions: list[dict[str, Any]]) -> list[Scheduled]:
        scheduled: list[Scheduled] = []
        for action in new_actions:
            kind = action["actionType"]
            if kind not in ID_TAKING:
                self._others.append(action)
                continue
            task_id = self._take_id()
            if kind == CREATE_TIMER:
                fire_at = parse_time(action["fireAt"])
                slot = Scheduled("timer", "timer", None, task_id, fire_at=fire_at)
                slot.cancelled = bool(action.get("isCanceled"))
                self.history.append(self._event(TIMER_CREATED, task_id, FireAt=action["fireAt"]))
            else:
                payload = json.loads(action["input"]) if action.get("input") else None
                events = payload.pop("events", None) if isinstance(payload, dict) else None
                slot = Scheduled(
                    "activity",
                    action["functionName"],
                    payload,
                    task_id,
                    retry=action.get("retryOptions"),
                    events=events,
                )
                self.history.append(
                    self._event(
                        TASK_SCHEDULED,
                        task_id,
                        Name=action["functionName"],
                        Input=json.dumps([action.get("input")]),
                    )
                )
                self._by_task_id[task_id] = slot
            self.slots.append(slot)
            scheduled.append(slot)
        return scheduled

    def _continue_as_new(self, new_input: Any) -> None:
        self.executions += 1
        self.input = new_input
        self.history = []
        self.slots = []
        self.next_id = 0
        self._started = False
        self._others = []
        self._by_task_id.clear()
        self._by_retry_timer.clear()

    def _take_id(self) -> int:
        task_id = self.next_id
        self.next_id += 1
        return task_id

    def _queue(self, event_type: int, **fields: Any) -> None:
        self._queued.append(self._event(event_type, **fields))

    def _event(self, event_type: int, event_id: int = -1, **fields: Any) -> dict[str, Any]:
        return {
            "EventType": event_type,
            "EventId": event_id,
            "IsPlayed": False,
            "Timestamp": iso(self.now),
            **fields,
        }


def call_orchestrator(
    orchestrator: OrchestratorEntry, instance_id: str, history: list[dict[str, Any]], input: Any
) -> tuple[dict[str, Any], str | None]:
    """Run the orchestrator over `history` with `input`, as the worker calls it, with the
    context the Durable extension sends; (state, error) where error is the message of a
    failed orchestration."""
    context = {
        "history": history,
        "input": input,
        "instanceId": instance_id,
        "isReplaying": False,
        "parentInstanceId": None,
        "upperSchemaVersion": 1,
        "upperSchemaVersionNew": 2,
        "longRunningTimerIntervalDuration": "3.00:00:00",
        "maximumShortTimerDuration": "6.00:00:00",
        "defaultHttpAsyncRequestSleepTimeMillseconds": 30000,
    }
    try:
        return json.loads(orchestrator(json.dumps(context))), None
    except Exception as failure:
        message, _, data = str(failure).partition("\n\n$OutOfProcData$:")
        if not data:
            raise
        return json.loads(data), message
