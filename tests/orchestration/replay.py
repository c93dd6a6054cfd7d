"""Replay a recorded orchestration history through the current orchestrator.

A recording (`tests/histories/*.json`, written by `tests.histories.record`) is the
history of a real run's (last) execution, exactly as devhost gave it to the
orchestrator. Replaying it is what the host does when a run in flight meets a new
deploy, so two things must hold for each recording:

- the orchestrator, given that history, asks for the same tasks in the same order
  (activities by name, durable timers by fire time; the host's own retry attempts
  and retry timers are part of one task) and ends the same way (the same outcome, or
  a failure again) — `replay_recording`;
- every payload the history holds (the orchestration's input, each activity's input
  and result, the output) is still read *whole* by the current models: a field the
  models no longer have would be dropped silently from a run in flight (a removed
  `thread_id` is a thread that is never deleted) — `lost_fields`.
"""

from __future__ import annotations

import json
import types
import typing
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from durable_assistant import events, run_loop, telemetry
from durable_assistant import model as domain
from tests.orchestration.history import (
    CALL_ACTIVITY,
    CALL_ACTIVITY_WITH_RETRY,
    CREATE_TIMER,
    EXECUTION_STARTED,
    ORCHESTRATOR_COMPLETED,
    ORCHESTRATOR_STARTED,
    TASK_COMPLETED,
    TASK_FAILED,
    TASK_SCHEDULED,
    TIMER_CREATED,
    NondeterminismError,
    OrchestratorEntry,
    call_orchestrator,
    flatten,
    parse_time,
)

HISTORIES = Path(__file__).resolve().parents[1] / "histories"
EXECUTION_COMPLETED, EXECUTION_FAILED, EXECUTION_TERMINATED = 1, 2, 3
ORCHESTRATION_COMPLETED_STATUS = 1

PAYLOADS: dict[str, tuple[str | None, str | None]] = {
    "start_run": ("StartInput", "Step"),
    "poll_run": ("RunHandle", "Step"),
    "submit_tool_outputs": ("SubmitInput", "Step"),
    "cancel_run": ("RunHandle", "Step"),
    "teardown_run": ("RunHandle", "TeardownReport"),
    "run_tool": ("ToolInvocation", "ToolResult"),
    "record_run_events": (None, None),  # only the instance id and the events slot
}
"""Each activity's (input, result) model, by name in the modules below (None: no
model). Looked up when used, so a test can put a changed model in its place. Any
activity input may also carry the run's events slot (`EVENTS_KEY`: an `EventSlot`)
and its trace context (`telemetry.CARRY_KEY`)."""

MODULES = (domain, run_loop, events)


def recordings() -> list[Path]:
    return sorted(HISTORIES.glob("*.json"))


def load(path: Path) -> dict[str, Any]:
    recording: dict[str, Any] = json.loads(path.read_text())
    return recording


def decoded(value: Any) -> Any:
    """A payload as history holds it (JSON text, at times inside a one-item list or
    JSON-encoded once more) as the decoded JSON value."""
    while isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return value
    if isinstance(value, list) and len(value) == 1:
        return decoded(value[0])
    return value


def current(name: str) -> type[BaseModel]:
    """The model named `name` as the code defines it now."""
    for module in MODULES:
        found = getattr(module, name, None)
        if isinstance(found, type) and issubclass(found, BaseModel):
            return found
    raise LookupError(name)


# -- the payloads --


def lost_fields(model: type[BaseModel], value: Any, where: str = "") -> list[str]:
    """Fields of `value` that `model` (and the models of its fields) no longer has."""
    if not isinstance(value, dict):
        return []
    model = current(model.__name__)
    lost: list[str] = []
    for key, item in value.items():
        info = model.model_fields.get(key)
        if info is None:
            lost.append(f"{where}{key}")
            continue
        for inner in _models_in(info.annotation):
            items = item if isinstance(item, list) else [item]
            for index, element in enumerate(items):
                suffix = f"[{index}]" if isinstance(item, list) else ""
                lost += lost_fields(inner, element, f"{where}{key}{suffix}.")
    return lost


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    """The pydantic models an annotation names (through Optional, list, unions)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is not None:
        return [m for arg in typing.get_args(annotation) for m in _models_in(arg)]
    return []


def payload_problems(history: list[dict[str, Any]]) -> list[str]:
    """Each payload in `history` the current models cannot read whole, and why."""
    problems: list[str] = []
    names: dict[int, str] = {}

    def check(role: str, model_name: str | None, value: Any) -> None:
        if model_name is None:
            return
        model = current(model_name)
        try:
            model.model_validate(value)
        except ValueError as error:
            problems.append(f"{role}: {model_name} cannot read it: {error}")
            return
        problems.extend(f"{role}: {model_name} lost {field}" for field in lost_fields(model, value))

    for event in history:
        kind = event["EventType"]
        if kind == EXECUTION_STARTED:
            data = decoded(event["Input"])
            model_name = "LoopState" if isinstance(data, dict) and "plan" in data else "RunPlan"
            check("the orchestration's input", model_name, data)
        elif kind == TASK_SCHEDULED:
            names[event["EventId"]] = event["Name"]
            data = decoded(event["Input"])
            if isinstance(data, dict):
                data = dict(data)
                data.pop(telemetry.CARRY_KEY, None)  # the trace context, when tracing
                if events.EVENTS_KEY in data:
                    slot = data.pop(events.EVENTS_KEY)
                    check(f"{event['Name']} input's events", "EventSlot", slot)
            check(f"{event['Name']} input", _payload(event["Name"])[0], data)
        elif kind == TASK_COMPLETED:
            name = names[event["TaskScheduledId"]]
            check(f"{name} result", _payload(name)[1], decoded(event["Result"]))
        elif kind == EXECUTION_COMPLETED and event.get("OrchestrationStatus") == 1:
            check("the orchestration's output", "RunResult", decoded(event["Result"]))
    return problems


def _payload(activity: str) -> tuple[str | None, str | None]:
    if activity not in PAYLOADS:
        raise AssertionError(f"activity {activity!r} has no payload models: add it to PAYLOADS")
    return PAYLOADS[activity]


# -- the replay --


@dataclass
class Replayed:
    """How the current orchestrator ended the recorded history."""

    done: bool
    output: Any
    error: str | None


def replay_recording(orchestrator: OrchestratorEntry, recording: dict[str, Any]) -> Replayed:
    """Replay the recorded history; `NondeterminismError` when the orchestrator now asks
    for other tasks than history has, an `AssertionError` when it ends otherwise.

    A run recorded in flight (no ending in its history) must ask for every task it had
    scheduled and may ask for more (what it does next); it must not have ended.
    """
    history: list[dict[str, Any]] = recording["history"]
    ending = next(
        (e for e in history if e["EventType"] in (EXECUTION_COMPLETED, EXECUTION_FAILED)), None
    )
    state, error = call(orchestrator, recording["instance_id"], worker_view(history))
    actions = list(flatten(state.get("actions", []))) if state else []
    match(actions, history, in_flight=ending is None)
    replayed = Replayed(bool(state.get("isDone")), state.get("output"), error)
    if ending is None:
        assert error is None and not replayed.done, (
            f"the run was in flight; the replay ends it: {error or replayed.output}"
        )
    elif ending.get("OrchestrationStatus") == ORCHESTRATION_COMPLETED_STATUS:
        assert error is None, f"the recorded run completed; the replay fails: {error}"
        assert replayed.done, "the recorded run completed; the replay does not end"
        was, now = decoded(ending["Result"]), decoded(replayed.output)
        assert (now.get("outcome"), now.get("answer")) == (was["outcome"], was["answer"]), (
            f"ended {now.get('outcome')!r} where the recorded run ended {was['outcome']!r}"
        )
    else:
        assert error is not None, "the recorded run failed; the replay does not"
    return replayed


def worker_view(history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The history the worker was given in the run's last episode: without the events
    the host writes after it (the ending and that episode's OrchestratorCompleted);
    earlier episodes marked played."""
    last_start = max(i for i, e in enumerate(history) if e["EventType"] == ORCHESTRATOR_STARTED)
    view = []
    for index, event in enumerate(history):
        kind = event["EventType"]
        if kind in (EXECUTION_COMPLETED, EXECUTION_FAILED, EXECUTION_TERMINATED):
            continue
        if index > last_start and kind == ORCHESTRATOR_COMPLETED:
            continue
        view.append({**event, "IsPlayed": index < last_start})
    return view


def call(
    orchestrator: OrchestratorEntry, instance_id: str, history: list[dict[str, Any]]
) -> tuple[dict[str, Any], str | None]:
    """Run the orchestrator over `history` as the worker would; (state, error)."""
    started = next(e for e in history if e["EventType"] == EXECUTION_STARTED)
    return call_orchestrator(orchestrator, instance_id, history, decoded_once(started.get("Input")))


def decoded_once(raw: str | None) -> Any:
    return None if raw is None else json.loads(raw)


def match(
    actions: list[dict[str, Any]], history: list[dict[str, Any]], *, in_flight: bool = False
) -> None:
    """Check the orchestrator's actions against the tasks history has scheduled
    (`in_flight`: actions past the end of history are what the run does next).

    Activities are matched in order by name; a with-retry activity also takes the
    host's retry timer and next attempt after each failed attempt. Timers are matched
    by fire time (the orchestrator's clock is history's, so equal means deterministic).
    """
    scheduled = sorted(
        (e for e in history if e["EventType"] in (TASK_SCHEDULED, TIMER_CREATED)),
        key=lambda e: int(e["EventId"]),
    )
    failed = {int(e["TaskScheduledId"]) for e in history if e["EventType"] == TASK_FAILED}
    taken: set[int] = set()
    timer_times = [parse_time(a["fireAt"]) for a in actions if a["actionType"] == CREATE_TIMER]

    def first(
        kind: int, after: int = -1, name: str | None = None, at: datetime | None = None
    ) -> dict[str, Any] | None:
        """The first task of `kind` not taken yet, scheduled after id `after`, with that
        name or fire time; a retry timer (`at` None) is one no action's timer has."""
        for event in scheduled:
            event_id = int(event["EventId"])
            if event["EventType"] != kind or event_id in taken or event_id <= after:
                continue
            if kind == TASK_SCHEDULED and name is not None and event["Name"] != name:
                continue
            if kind == TIMER_CREATED:
                fire_at = parse_time(event["FireAt"])
                if (fire_at != at) if at is not None else (fire_at in timer_times):
                    continue
            return event
        return None

    for action in actions:
        kind = action["actionType"]
        if kind in (CALL_ACTIVITY, CALL_ACTIVITY_WITH_RETRY):
            event = first(TASK_SCHEDULED)
            name = action["functionName"]
            if event is None and in_flight:
                continue
            if event is None or event["Name"] != name:
                got = "nothing more" if event is None else f"activity {event['Name']!r}"
                raise NondeterminismError(
                    f"history has {got} where the orchestrator now calls activity {name!r}"
                )
            taken.add(int(event["EventId"]))
            while kind == CALL_ACTIVITY_WITH_RETRY and int(event["EventId"]) in failed:
                timer = first(TIMER_CREATED, int(event["EventId"]))
                if timer is None:
                    break
                taken.add(int(timer["EventId"]))
                attempt = first(TASK_SCHEDULED, int(timer["EventId"]), name=name)
                if attempt is None:
                    break
                taken.add(int(attempt["EventId"]))
                event = attempt
        elif kind == CREATE_TIMER:
            at = parse_time(action["fireAt"])
            timer = first(TIMER_CREATED, at=at)
            if timer is None and in_flight:
                continue
            if timer is None:
                raise NondeterminismError(
                    f"the orchestrator now sets a timer for {at}, which history does not have"
                )
            taken.add(int(timer["EventId"]))
    left = [e for e in scheduled if int(e["EventId"]) not in taken]
    if left:
        what = [e.get("Name") or f"timer at {e['FireAt']}" for e in left]
        raise NondeterminismError(f"the orchestrator no longer schedules {what}")
