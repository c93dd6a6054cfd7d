"""One orchestration episode, as the Durable extension plays it.

Gather the instance's new messages, append `OrchestratorStarted` and the new events,
call the orchestrator through the SDK's replay executor, then turn its actions into
scheduled work (checking the ones history already has: nondeterminism), apply custom
status and completion, and hand back one `Commit` for the store to write atomically.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from devhost.actions import (
    ACTIVITIES,
    SUB_ORCHESTRATIONS,
    WITH_RETRY,
    ActionType,
    OrchestratorResult,
)
from devhost.history import (
    SCHEDULING,
    Event,
    EventType,
    completion_id,
    event,
    iso,
    parse_time,
)
from devhost.indexer import AppIndex, IndexedFunction, TriggerKind
from devhost.store import ChildStart, Commit, Instance, Message, NewMessage
from devhost.tracing import Carried, execution_trace, orchestration_span
from devhost.versioning import MISMATCH_MESSAGE, MISMATCH_TYPE, FailureStrategy, Versioning

LOGGER = logging.getLogger("devhost.orchestrations")

# Action that faulted in the extension before taking a sequence id.
FAULTED = -1

# OrchestrationStatus numbers used in ExecutionCompleted.
STATUS_COMPLETED = 1
STATUS_FAILED = 3

OrchestratorCall = Callable[[IndexedFunction, str], str]

NONDETERMINISM = "Non-Deterministic workflow detected: "

# DurableOrchestrationContext.SetCustomStatus: MaxCustomStatusPayloadSizeInKB.
MAX_CUSTOM_STATUS_KB = 16

SCHEDULED_KIND = {
    EventType.TASK_SCHEDULED: "an activity task",
    EventType.SUB_ORCHESTRATION_INSTANCE_CREATED: "a sub-orchestration task",
    EventType.TIMER_CREATED: "a durable timer",
    EventType.EVENT_SENT: "an entity or event message",
}


def _expected_event(action_type: ActionType) -> EventType | None:
    if action_type in ACTIVITIES or action_type is ActionType.CALL_HTTP:
        return EventType.TASK_SCHEDULED
    if action_type in SUB_ORCHESTRATIONS:
        return EventType.SUB_ORCHESTRATION_INSTANCE_CREATED
    if action_type is ActionType.CREATE_TIMER:
        return EventType.TIMER_CREATED
    if action_type in (ActionType.CALL_ENTITY, ActionType.SIGNAL_ENTITY):
        return EventType.EVENT_SENT
    return None


def trigger_input(instance: Instance, history: list[Event]) -> str:
    """The orchestration trigger's JSON, as the extension sends it."""
    started = next(e for e in history if e["EventType"] == EventType.EXECUTION_STARTED)
    raw = started.get("Input")
    return json.dumps(
        {
            "history": history,
            "input": None if raw is None else json.loads(raw),
            "instanceId": instance.instance_id,
            "isReplaying": False,
            "parentInstanceId": instance.parent_instance_id,
            "upperSchemaVersion": 1,
            "upperSchemaVersionNew": 2,
            "longRunningTimerIntervalDuration": "3.00:00:00",
            "maximumShortTimerDuration": "6.00:00:00",
            "defaultHttpAsyncRequestSleepTimeMillseconds": 30000,
        }
    )


@dataclass
class Outcome:
    """What an episode did, for the log line."""

    ran: bool = False
    ok: bool = True
    detail: str = ""
    # Not run: the version check rejected the instance (nothing to commit).
    rejected: bool = False
    version: str | None = None


@dataclass
class _Episode:
    """Mutable working set of one episode."""

    instance: Instance
    now: datetime
    events: list[Event] = field(default_factory=list)
    messages: list[NewMessage] = field(default_factory=list)
    work: list[tuple[int, str, str | None]] = field(default_factory=list)
    creates: list[ChildStart] = field(default_factory=list)
    version: str | None = None
    # ParentTraceContext of the execution's ExecutionStarted, and its own span.
    trace: dict[str, Any] | None = None

    @property
    def state(self) -> dict[str, Any]:
        return self.instance.state

    def allocate(self) -> int:
        """Next number of DurableTask's sequence counter."""
        value = int(self.state.get("next_id", 0))
        self.state["next_id"] = value + 1
        return value

    def open(self, task_id: int, kind: str) -> None:
        self.state.setdefault("open", {})[str(task_id)] = kind

    def to_self(self, item: Event, visible_at: float = 0.0) -> None:
        self.messages.append(
            NewMessage(self.instance.instance_id, self.instance.execution_id, item, visible_at)
        )


class EpisodeRunner:
    """Runs episodes for the app's orchestrators; pure apart from calling user code."""

    def __init__(
        self, index: AppIndex, call: OrchestratorCall, versioning: Versioning | None = None
    ) -> None:
        self._index = index
        self._call = call
        self._versioning = versioning or Versioning()

    # public --------------------------------------------------------------------------

    def run(
        self,
        instance: Instance,
        history: list[Event],
        messages: list[Message],
        now: datetime,
    ) -> tuple[Commit, Outcome]:
        """Play one episode; returns what to commit and a summary for the log."""
        ep = _Episode(instance, now)
        commit = Commit(
            instance=instance,
            consumed=[m.id for m in messages],
            execution_id=instance.execution_id,
        )
        start, new_events = self._accept(ep, history, messages)
        if (
            not instance.is_active
            or (start is None and not history)
            or (start is None and not new_events)
        ):
            return commit, Outcome()
        started = _started(start, history)
        version = ep.version = None if started is None else started.get("Version")
        ep.trace = None if started is None else started.get("ParentTraceContext")
        if not self._versioning.accepts(version):
            if self._versioning.failure is not FailureStrategy.FAIL:
                return commit, Outcome(rejected=True, version=version)
            return self._fail_version(ep, start, commit, version)
        ep.events.append(event(EventType.ORCHESTRATOR_STARTED, now))
        if start is not None:
            ep.events.append(start)
            instance.status = "Running"
        # Retry continuations first: their ids are taken before any new action's.
        retry_events = [e for e in new_events if self._is_retry_event(ep, e)]
        others = [e for e in new_events if not self._is_retry_event(ep, e)]
        ep.events.extend(retry_events + others)

        past = [{**e, "IsPlayed": True} for e in history]
        result = self._invoke(instance, past + ep.events)

        for item in retry_events:
            self._continue_retry(ep, item)
        problem = self._schedule(ep, history, result)
        if problem is None and result.error is None:
            # The extension rejects an oversized custom status like an orchestrator error.
            result.error = _custom_status_problem(result)
        outcome = Outcome(ran=True)
        if problem is not None:
            self._finish_failed(ep, problem, problem, commit)
            outcome = Outcome(ran=True, ok=False, detail=problem)
        elif result.error is not None:
            message = f"Orchestrator function '{instance.name}' failed: {result.error}"
            self._finish_failed(ep, message, result.error, commit)
            outcome = Outcome(ran=True, ok=False, detail=result.error)
        else:
            if result.has_custom_status:
                instance.custom_status = json.dumps(result.custom_status)
            if result.is_done and (_continues(result) or not self._still_open(ep, result)):
                outcome = self._finish_done(ep, result, commit)
        if not commit.replace_history:
            ep.events.append(event(EventType.ORCHESTRATOR_COMPLETED, now))
            commit.history = ep.events
        instance.last_updated_time = now.timestamp()
        commit.messages = ep.messages
        commit.work = ep.work
        commit.creates = ep.creates
        return commit, outcome

    def _fail_version(
        self, ep: _Episode, start: Event | None, commit: Commit, version: str | None
    ) -> tuple[Commit, Outcome]:
        """versionFailureStrategy Fail: DurableTask.Core completes the instance as Failed
        with failure details and no result, without calling the orchestrator."""
        ep.events.append(event(EventType.ORCHESTRATOR_STARTED, ep.now))
        if start is not None:
            ep.events.append(start)
        instance = ep.instance
        instance.status = "Failed"
        instance.output = None
        ep.events.append(
            event(
                EventType.EXECUTION_COMPLETED,
                ep.now,
                OrchestrationStatus=STATUS_FAILED,
                Result=None,
                FailureDetails={
                    "ErrorType": MISMATCH_TYPE,
                    "ErrorMessage": MISMATCH_MESSAGE,
                    "StackTrace": None,
                    "InnerFailure": None,
                    "IsNonRetriable": True,
                },
            )
        )
        ep.events.append(event(EventType.ORCHESTRATOR_COMPLETED, ep.now))
        commit.cancel_work = True
        self._notify_parent(ep, completed=False, result=None, details=None)
        instance.last_updated_time = ep.now.timestamp()
        commit.history = ep.events
        commit.messages = ep.messages
        detail = f"{MISMATCH_TYPE}: version {version!r}"
        return commit, Outcome(ran=False, ok=False, detail=detail, version=version)

    def _invoke(self, instance: Instance, history: list[Event]) -> OrchestratorResult:
        """Call the orchestrator with the whole history; failures become the result."""
        function = self._index.orchestrator(instance.name)
        if function is None:
            return OrchestratorResult(error=f"The function '{instance.name}' doesn't exist.")
        try:
            return OrchestratorResult.from_json(
                self._call(function, trigger_input(instance, history))
            )
        except Exception as exc:  # the SDK reports orchestrator failures by raising
            return OrchestratorResult.from_failure(str(exc))

    # messages ------------------------------------------------------------------------

    def _accept(
        self, ep: _Episode, history: list[Event], messages: list[Message]
    ) -> tuple[Event | None, list[Event]]:
        """Keep the messages that belong to this execution and are not duplicates."""
        start: Event | None = None
        fresh: list[Event] = []
        open_ids = ep.state.setdefault("open", {})
        for message in messages:
            item = message.event
            kind = EventType(item["EventType"])
            if kind is EventType.EXECUTION_STARTED:
                if not history and start is None:
                    start = item
                continue
            if message.execution_id not in (None, ep.instance.execution_id):
                continue
            task_id = completion_id(item)
            if task_id is not None:
                if open_ids.pop(str(task_id), None) is None:
                    continue  # already applied, or stale
                fresh.append(item)
            elif kind is EventType.EVENT_RAISED:
                fresh.append(item)
        return start, fresh

    @staticmethod
    def _is_retry_event(ep: _Episode, item: Event) -> bool:
        task_id = completion_id(item)
        return task_id is not None and str(task_id) in ep.state.get("retries", {})

    # retries -------------------------------------------------------------------------

    def _continue_retry(self, ep: _Episode, item: Event) -> None:
        """Host side of with-retry: failure → timer (new id); timer fired → next attempt."""
        retries: dict[str, Any] = ep.state.setdefault("retries", {})
        chain = retries.pop(str(completion_id(item)))
        kind = EventType(item["EventType"])
        if kind in (EventType.TASK_FAILED, EventType.SUB_ORCHESTRATION_INSTANCE_FAILED):
            options = chain["options"]
            attempts = int(chain["attempts"])
            elapsed_ms = (ep.now.timestamp() - float(chain["first"])) * 1000
            timeout = options.get("retryTimeoutInMilliseconds")
            exhausted = attempts >= int(options.get("maxNumberOfAttempts", 1)) or (
                timeout is not None and elapsed_ms >= float(timeout)
            )
            delay_ms = 0.0
            if not exhausted:
                delay_ms = float(options.get("firstRetryIntervalInMilliseconds", 0)) * float(
                    options.get("backoffCoefficient", 1) or 1
                ) ** (attempts - 1)
                cap = options.get("maxRetryIntervalInMilliseconds")
                if cap is not None:
                    delay_ms = min(delay_ms, float(cap))
            self._create_timer(ep, ep.now + timedelta(milliseconds=delay_ms), "retry")
            retries[str(ep.state["next_id"] - 1)] = {**chain, "exhausted": exhausted}
        elif kind is EventType.TIMER_FIRED and not chain.get("exhausted"):
            task_id = ep.allocate()
            chain["attempts"] = int(chain["attempts"]) + 1
            self._start_task(ep, task_id, chain["action"])
            retries[str(task_id)] = chain

    # actions -------------------------------------------------------------------------

    def _schedule(
        self, ep: _Episode, history: list[Event], result: OrchestratorResult
    ) -> str | None:
        """Match old actions against history, schedule new ones; returns a nondeterminism
        message when they disagree."""
        actions = result.id_actions()
        known: list[int] = ep.state.setdefault("action_ids", [])
        scheduled = {
            int(e["EventId"]): e for e in history if EventType(e["EventType"]) in SCHEDULING
        }
        for task_id, action in zip(known, actions, strict=False):
            problem = self._check(task_id, action, scheduled.get(task_id))
            if problem:
                return problem
        if len(actions) < len(known) and result.error is None:
            missing = scheduled.get(known[len(actions)])
            if missing is not None:
                return self._missing(missing)
        if result.error is not None:
            return None
        for action in actions[len(known) :]:
            action_type = ActionType(int(action["actionType"]))
            if action_type is ActionType.CONTINUE_AS_NEW:
                known.append(ep.allocate())
                continue
            if action_type in (
                ActionType.CALL_ENTITY,
                ActionType.SIGNAL_ENTITY,
                ActionType.CALL_HTTP,
            ):
                return (
                    f"devhost does not support {action_type.name.lower()} actions "
                    "(durable entities and call_http)"
                )
            fault = self._fault(ep, action_type, action)
            if fault is not None:
                # The extension's call throws before DurableTask takes a sequence id; the
                # shim swallows it, so no event is written and the task stays open forever.
                LOGGER.error(
                    "Orchestrator '%s' (instance %s) scheduled a task that can never run: %s",
                    ep.instance.name,
                    ep.instance.instance_id,
                    fault,
                )
                known.append(FAULTED)
                continue
            task_id = ep.allocate()
            known.append(task_id)
            if action_type is ActionType.CREATE_TIMER:
                self._create_timer(ep, parse_time(str(action["fireAt"])), "timer", task_id)
                continue
            self._start_task(ep, task_id, action)
            if action_type in WITH_RETRY:
                ep.state.setdefault("retries", {})[str(task_id)] = {
                    "action": action,
                    "options": action.get("retryOptions") or {},
                    "attempts": 1,
                    "first": ep.now.timestamp(),
                }
        return None

    def _fault(self, ep: _Episode, action_type: ActionType, action: dict[str, Any]) -> str | None:
        """Why the extension's CallDurableTaskFunctionAsync would throw for this action."""
        name = str(action.get("functionName"))
        if action_type in ACTIVITIES and self._index.activity(name) is None:
            kind, known = "activity", TriggerKind.ACTIVITY
        elif action_type in SUB_ORCHESTRATIONS and self._index.orchestrator(name) is None:
            kind, known = "orchestrator", TriggerKind.ORCHESTRATION
        elif action_type in SUB_ORCHESTRATIONS:
            child_id = action.get("instanceId")
            family = {ep.instance.instance_id.lower()}
            if ep.instance.parent_instance_id is not None:
                family.add(ep.instance.parent_instance_id.lower())
            if child_id is not None and str(child_id).lower() in family:
                return (
                    "The instance ID of a sub-orchestration must be different than the "
                    "instance ID of a parent orchestration."
                )
            if child_id is not None and str(child_id).startswith("@"):
                return "instanceId (Parameter 'Orchestration instance ids must not start with @')"
            return None
        else:
            return None
        names = [f.durable_name for f in self._index.of_kind(known)]
        return (
            f"The function '{name}' doesn't exist, is disabled, or is not an {kind} function. "
            f"Additional info: The following are the known {kind} functions: {names}."
        )

    @staticmethod
    def _check(task_id: int, action: dict[str, Any], seen: Event | None) -> str | None:
        action_type = ActionType(int(action["actionType"]))
        expected = _expected_event(action_type)
        if seen is None or expected is None:
            return None
        name = action.get("functionName")
        same_type = EventType(seen["EventType"]) is expected
        same_name = expected is EventType.TIMER_CREATED or seen.get("Name") == name
        if same_type and same_name:
            return None
        what = SCHEDULED_KIND.get(EventType(seen["EventType"]), "a task")
        now_what = SCHEDULED_KIND.get(expected, "a task")
        return (
            f"{NONDETERMINISM}A previous execution of this orchestration scheduled {what} "
            f"with sequence ID {task_id} and name '{seen.get('Name') or ''}', but the current "
            f"replay execution instead scheduled {now_what} with name '{name or ''}'. "
            "Was a change made to the orchestrator code after this instance had already "
            "started running?"
        )

    @staticmethod
    def _missing(seen: Event) -> str:
        what = SCHEDULED_KIND.get(EventType(seen["EventType"]), "a task")
        return (
            f"{NONDETERMINISM}A previous execution of this orchestration scheduled {what} "
            f"with sequence ID {seen['EventId']} and name '{seen.get('Name') or ''}', but the "
            "current replay execution hasn't (yet?) scheduled this task. Was a change made to "
            "the orchestrator code after this instance had already started running?"
        )

    def _create_timer(
        self, ep: _Episode, fire_at: datetime, kind: str, task_id: int | None = None
    ) -> None:
        task_id = ep.allocate() if task_id is None else task_id
        ep.events.append(event(EventType.TIMER_CREATED, ep.now, task_id, FireAt=iso(fire_at)))
        fired = event(EventType.TIMER_FIRED, fire_at, -1, TimerId=task_id, FireAt=iso(fire_at))
        ep.to_self(fired, visible_at=fire_at.timestamp())
        ep.open(task_id, kind)

    def _start_task(self, ep: _Episode, task_id: int, action: dict[str, Any]) -> None:
        """Schedule an activity or a sub-orchestration under a sequence id."""
        action_type = ActionType(int(action["actionType"]))
        name = str(action.get("functionName"))
        data = action.get("input")
        if action_type in ACTIVITIES:
            scheduled = event(
                EventType.TASK_SCHEDULED,
                ep.now,
                task_id,
                Name=name,
                Version="",
                Input=json.dumps([data]),
                ParentTraceContext=_task_trace(ep).event_field(),
            )
            ep.events.append(scheduled)
            ep.open(task_id, "activity")
            ep.work.append((task_id, name, data))
            return
        child_id = action.get("instanceId") or uuid.uuid4().hex
        child_version = self._versioning.for_new_instance(action.get("version"))
        child_trace = _task_trace(ep)
        ep.events.append(
            event(
                EventType.SUB_ORCHESTRATION_INSTANCE_CREATED,
                ep.now,
                task_id,
                Name=name,
                Version=child_version,
                InstanceId=child_id,
                Input=data,
                ParentTraceContext=child_trace.event_field(),
            )
        )
        ep.open(task_id, "suborchestration")
        now = ep.now.timestamp()
        child_input = None if data is None else json.dumps(data)
        child = Instance(
            instance_id=child_id,
            name=name,
            execution_id=uuid.uuid4().hex,
            status="Pending",
            input=child_input,
            created_time=now,
            last_updated_time=now,
            parent_instance_id=ep.instance.instance_id,
            parent_execution_id=ep.instance.execution_id,
            parent_task_id=task_id,
        )
        parent_id, parent_execution = ep.instance.instance_id, ep.instance.execution_id

        def refuse(status: str) -> NewMessage:
            failed = event(
                EventType.SUB_ORCHESTRATION_INSTANCE_FAILED,
                ep.now,
                TaskScheduledId=task_id,
                Reason=f"An Orchestration instance with the status {status} already exists.",
                Details="",
            )
            return NewMessage(parent_id, parent_execution, failed)

        start = NewMessage(
            child_id,
            None,
            execution_started(child, ep.now, child_version, execution_trace(child_trace)),
        )
        ep.creates.append(ChildStart(child, start, refuse))

    # completion ----------------------------------------------------------------------

    @staticmethod
    def _still_open(ep: _Episode, result: OrchestratorResult) -> bool:
        """The completion gate: open work keeps the instance running (cancelled timers don't)."""
        by_id = dict(zip(ep.state.get("action_ids", []), result.id_actions(), strict=False))
        for key, kind in ep.state.get("open", {}).items():
            action = by_id.get(int(key))
            if kind == "timer" and action is not None and action.get("isCanceled"):
                continue
            return True
        return False

    def _finish_done(self, ep: _Episode, result: OrchestratorResult, commit: Commit) -> Outcome:
        instance = ep.instance
        again = [a for a in result.id_actions() if a["actionType"] == ActionType.CONTINUE_AS_NEW]
        if again:
            data = again[-1].get("input")
            instance.execution_id = uuid.uuid4().hex
            instance.input = None if data is None else json.dumps(data)
            instance.state = {}
            commit.replace_history = True
            commit.cancel_work = True
            ep.messages = [m for m in ep.messages if m.instance_id != instance.instance_id]
            ep.work.clear()
            # The new execution keeps the instance's version (DurableTask.Core).
            ep.to_self(execution_started(instance, ep.now, ep.version, ep.trace))
            return Outcome(ran=True, detail="continued as new")
        output = json.dumps(result.output)
        instance.status = "Completed"
        instance.output = output
        ep.events.append(
            event(
                EventType.EXECUTION_COMPLETED,
                ep.now,
                OrchestrationStatus=STATUS_COMPLETED,
                Result=output,
            )
        )
        self._notify_parent(ep, completed=True, result=output)
        return Outcome(ran=True, detail="completed")

    def _finish_failed(self, ep: _Episode, message: str, details: str, commit: Commit) -> None:
        instance = ep.instance
        instance.status = "Failed"
        instance.output = json.dumps(message)
        ep.events.append(
            event(
                EventType.EXECUTION_COMPLETED,
                ep.now,
                OrchestrationStatus=STATUS_FAILED,
                Result=instance.output,
                FailureDetails={"ErrorType": "OrchestrationFailure", "ErrorMessage": message},
            )
        )
        ep.messages = []
        ep.work.clear()
        ep.creates.clear()
        commit.cancel_work = True
        self._notify_parent(ep, completed=False, result=message, details=details)

    @staticmethod
    def _notify_parent(
        ep: _Episode, *, completed: bool, result: str | None, details: str | None = ""
    ) -> None:
        instance = ep.instance
        if instance.parent_instance_id is None or instance.parent_task_id is None:
            return
        if completed:
            item = event(
                EventType.SUB_ORCHESTRATION_INSTANCE_COMPLETED,
                ep.now,
                TaskScheduledId=instance.parent_task_id,
                Result=result,
            )
        else:
            item = event(
                EventType.SUB_ORCHESTRATION_INSTANCE_FAILED,
                ep.now,
                TaskScheduledId=instance.parent_task_id,
                Reason=result,
                Details=details,
            )
        ep.messages.append(
            NewMessage(instance.parent_instance_id, instance.parent_execution_id, item)
        )


def _custom_status_problem(result: OrchestratorResult) -> str | None:
    """The extension's 16 KB limit on custom status, measured as it does: compact JSON
    (Newtonsoft `Formatting.None`, non-ASCII kept) in UTF-16, whole KB rounded down."""
    if not result.has_custom_status or result.custom_status is None:
        return None
    text = json.dumps(result.custom_status, separators=(",", ":"), ensure_ascii=False)
    size_kb = len(text.encode("utf-16-le")) // 1024
    if size_kb <= MAX_CUSTOM_STATUS_KB:
        return None
    return (
        "The UTF-16 size of the JSON-serialized payload must not exceed "
        f"{MAX_CUSTOM_STATUS_KB:,} KB. The current payload size is {size_kb:,} KB."
    )


def _continues(result: OrchestratorResult) -> bool:
    """The orchestrator asked for continue-as-new (which open work does not hold back)."""
    return any(a["actionType"] == ActionType.CONTINUE_AS_NEW for a in result.id_actions())


def _started(start: Event | None, history: list[Event]) -> Event | None:
    """The execution's ExecutionStarted (new in this episode, or from history)."""
    if start is not None:
        return start
    return next((e for e in history if e["EventType"] == EventType.EXECUTION_STARTED), None)


def _task_trace(ep: _Episode) -> Carried:
    """The client span DurableTask starts under the orchestration's span for a task."""
    return orchestration_span({"ParentTraceContext": ep.trace}).child()


def execution_started(
    instance: Instance,
    now: datetime,
    version: str | None,
    trace: dict[str, Any] | None = None,
) -> Event:
    """The ExecutionStarted event that opens an execution of the instance; `Version` is
    what the orchestrator reads as `context.version` (None for an unversioned one)."""
    parent = None
    if instance.parent_instance_id is not None:
        parent = {
            "Name": None,
            "OrchestrationInstance": {
                "InstanceId": instance.parent_instance_id,
                "ExecutionId": instance.parent_execution_id,
            },
            "TaskScheduleId": instance.parent_task_id,
        }
    return event(
        EventType.EXECUTION_STARTED,
        now,
        OrchestrationInstance={
            "InstanceId": instance.instance_id,
            "ExecutionId": instance.execution_id,
        },
        ParentInstance=parent,
        Name=instance.name,
        Version=version,
        Input=instance.input,
        Tags=None,
        ScheduledStartTime=None,
        ParentTraceContext=trace,
    )
