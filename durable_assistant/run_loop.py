"""The run loop's state and decisions, kept out of the orchestrator.

The orchestrator only schedules activities and timers; what a model state means
(go on, run tools, stop and why), what the caller sees (progress, result) and when
history is long enough to `continue_as_new` are decided here, as pure functions of
the domain model, so they are tested without a Functions host and are
deterministic by construction.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any, TypeVar

from pydantic import AwareDatetime, Field

from durable_assistant.events import (
    EventCursor,
    EventSlot,
    RunEvent,
    StepAhead,
    StoredEvent,
    finished_again,
)
from durable_assistant.model import (
    MIN_DEADLINE_SECONDS,
    MIN_POLL_MS,
    Backend,
    Model,
    Outcome,
    Phase,
    Progress,
    RunHandle,
    RunPlan,
    RunResult,
    RunState,
    RunStatus,
    Stored,
    TeardownReport,
    ToolCall,
    ToolResult,
    ToolTrace,
    Usage,
    short,
)
from durable_assistant.polling import deadline_after, next_interval_ms
from durable_assistant.tools.registry import ERROR_PREFIX, truncate

StoredT = TypeVar("StoredT", bound=Stored)

CANCEL_EVENT = "cancel"
"""Name of the external event the cancel endpoint raises."""

TRACE_OUTPUT_CHARS = 500
TRACE_ARGUMENTS_CHARS = 2_000
"""Tool outputs and arguments are cut to this in the trace: the result stays small."""

EVENTS_PER_TASK = 4
"""History events one scheduled task costs, at most: scheduled + completed, plus the
OrchestratorStarted/Completed pair of the episode its completion wakes."""

BASE_EVENTS = 4
"""ExecutionStarted and the first episode's pair, roughly."""

MIN_TASKS_PER_EXECUTION = 2
"""An execution schedules at least this much before it may continue as new, so a
tiny history limit cannot make it continue as new forever without progress."""

_OUTCOME_OF_STATUS = {
    RunStatus.COMPLETED: Outcome.COMPLETED,
    RunStatus.FAILED: Outcome.FAILED,
    RunStatus.CANCELLED: Outcome.CANCELLED,
    RunStatus.EXPIRED: Outcome.EXPIRED,
    RunStatus.INCOMPLETE: Outcome.INCOMPLETE,
    RunStatus.CONTENT_FILTERED: Outcome.CONTENT_FILTERED,
}


class LoopState(Stored):
    """Everything the loop knows between steps, and across `continue_as_new`.

    `last` is the model state the loop acts on next (set when the execution
    continues as new while the run is still pending); `tasks_scheduled` counts this
    execution's tasks to estimate its history length.
    """

    plan: RunPlan
    started_at: AwareDatetime
    deadline_at: AwareDatetime
    interval_ms: int = Field(ge=1)
    handle: RunHandle | None = None
    last: RunState | None = None
    step: int = Field(default=0, ge=0)
    polls: int = Field(default=0, ge=0)
    tool_calls: list[ToolTrace] = Field(default_factory=list)
    usage: Usage = Field(default_factory=Usage)
    generation: int = Field(default=0, ge=0)
    tasks_scheduled: int = Field(default=0, ge=0)
    events: EventCursor = Field(default_factory=EventCursor)

    @classmethod
    def begin(cls, plan: RunPlan, now: datetime) -> LoopState:
        """The state of a run that starts now."""
        return cls(
            plan=plan,
            started_at=now,
            deadline_at=deadline_after(now, plan.deadline_seconds),
            interval_ms=plan.poll_initial_ms,
        )

    def scheduled(self, count: int = 1) -> LoopState:
        """The state after this execution scheduled `count` more tasks."""
        return self.model_copy(update={"tasks_scheduled": self.tasks_scheduled + count})

    def acted_on(self, handle: RunHandle, state: RunState) -> LoopState:
        """The state after an activity returned `state`: its usage counts once."""
        usage = self.usage + state.usage if state.usage is not None else self.usage
        return self.model_copy(update={"handle": handle, "usage": usage})

    def polled(self) -> LoopState:
        """The state after a poll that may find the run still going: interval grows."""
        return self.model_copy(
            update={
                "polls": self.polls + 1,
                "interval_ms": next_interval_ms(self.interval_ms, self.plan.poll_max_ms),
            }
        )

    def new_turn(self) -> LoopState:
        """The state after a start or submit: the model begins a turn, poll soon."""
        return self.model_copy(update={"interval_ms": self.plan.poll_initial_ms})

    def with_tool_results(self, calls: list[ToolCall], results: list[ToolResult]) -> LoopState:
        """The state after one round of tool calls: traced, and the step counted."""
        step = self.step + 1
        traces = [trace_of(step, call, result) for call, result in zip(calls, results, strict=True)]
        return self.model_copy(update={"step": step, "tool_calls": [*self.tool_calls, *traces]})

    def continued(self, last: RunState) -> LoopState:
        """The input of the next execution: same run, fresh history count."""
        return self.model_copy(
            update={"last": last, "generation": self.generation + 1, "tasks_scheduled": 0}
        )

    def recording(self, phase: Phase) -> LoopState:
        """The state after the run entered `phase`: a change is recorded as an event."""
        step = self.progress(phase).step
        return self.model_copy(update={"events": self.events.with_phase(phase, step)})

    def recording_event(self, event: RunEvent) -> LoopState:
        """The state with `event` waiting for the next activity to record it."""
        return self.model_copy(update={"events": self.events.with_event(event)})

    def owing(self, events: Sequence[StoredEvent]) -> LoopState:
        """The state with `events` for the next activity to write again."""
        return self.model_copy(update={"events": self.events.owing(events)})

    def event_slot(
        self, *, always: bool = False, call: int = 0, calls: int = 0
    ) -> tuple[EventSlot | None, LoopState]:
        """The event slot of the activity about to be scheduled (for a tool call, the
        `call`-th of the step's `calls`), and the state after."""
        step = self.progress(self.events.phase or Phase.STARTING).step
        slot, events = self.events.take(step, always=always, call=call, calls=calls)
        return slot, self.model_copy(update={"events": events})

    def model_call_slot(self) -> tuple[EventSlot | None, LoopState]:
        """The event slot of a model call about to be scheduled: it also says where the
        tool calls it may ask for go (none when the run may take no more steps), so
        the call writes their `started` events itself (`events.announced_events`)."""
        slot, state = self.event_slot()
        if slot is None or self.step >= self.plan.max_steps:
            return slot, state
        ahead = state.events.ahead(state.progress(Phase.RUNNING_TOOLS).step)
        return slot.model_copy(update={"ahead": ahead}), state

    def tool_slot(
        self, call: int, calls: int, announced: StepAhead | None
    ) -> tuple[EventSlot | None, LoopState]:
        """The event slot of the `call`-th of a step's `calls` tool calls; when the model
        call that asked for them wrote their first events (`announced`, where it wrote
        them), the slot says so and the tool call writes only its `finished`."""
        slot, state = self.event_slot(call=call, calls=calls)
        if slot is None or announced is None:
            return slot, state
        expected = StepAhead(
            slot=announced.slot + call,
            step=announced.step,
            record=announced.record if call == 0 else [],
        )
        if StepAhead(slot=slot.slot, step=slot.step, record=slot.record) != expected:
            return slot, state  # not where they were written: the call writes its own
        return slot.model_copy(update={"written": len(slot.record) + 1}), state

    def tools_not_run(self, calls: Sequence[ToolCall], reason: str | None) -> LoopState:
        """The state after the run ended before running a step's tool calls whose
        `started` events were written: their slots are passed over, and each call's
        `finished` (not run) is left for the next activity to write."""
        state = self.recording(Phase.RUNNING_TOOLS)
        owed: list[StoredEvent] = []
        for index, call in enumerate(calls):
            slot, state = state.event_slot(call=index, calls=len(calls))
            if slot is not None:
                owed.append(finished_again(slot, not_run_result(call, reason)))
        return state.owing(owed)

    def progress(self, phase: Phase, version: str | None = None) -> Progress:
        """The custom status for `phase` (while tools run, the step they belong to);
        `version` is the orchestration version this instance runs."""
        return Progress(
            phase=phase,
            step=self.step + 1 if phase is Phase.RUNNING_TOOLS else self.step,
            tool_calls=len(self.tool_calls),
            usage=self.usage,
            backend=self.plan.backend,
            version=version,
        )


class Ending(Model):
    """How and why the loop stops.

    `cancel_run`: the run may still be going at the service, so it is cancelled
    before teardown. `error`: an unexpected failure; the orchestration fails with
    `reason` after teardown instead of returning a result.
    """

    outcome: Outcome
    answer: str | None = None
    reason: str | None = None
    cancel_run: bool = False
    error: bool = False

    @classmethod
    def deadline(cls, deadline_seconds: int, outage: str | None = None) -> Ending:
        """The deadline passed; `outage`: what the run was waiting out meanwhile."""
        reason = f"the run did not finish within its deadline of {deadline_seconds} s"
        if outage:
            reason = f"{reason} (it was waiting out an outage: {outage})"
        return cls(outcome=Outcome.DEADLINE_EXCEEDED, reason=short(reason), cancel_run=True)

    @classmethod
    def cancelled(cls, detail: Any = None) -> Ending:
        """The ending for a cancel event; `detail` is its data, which the durable
        client sends JSON-encoded once more than it was given (so it may be a string)."""
        reason = "cancelled on request"
        if isinstance(detail, str):
            try:
                detail = json.loads(detail)
            except ValueError:
                detail = None
        if isinstance(detail, dict) and isinstance(detail.get("reason"), str) and detail["reason"]:
            reason = f"{reason}: {detail['reason']}"
        return cls(outcome=Outcome.CANCELLED, reason=short(reason), cancel_run=True)

    @classmethod
    def too_many_steps(cls, max_steps: int) -> Ending:
        return cls(
            outcome=Outcome.FAILED,
            reason=f"the model asked for more than {max_steps} rounds of tool calls (MAX_STEPS)",
            cancel_run=True,
        )

    @classmethod
    def no_tool_calls(cls) -> Ending:
        return cls(
            outcome=Outcome.FAILED,
            reason="the model asked for tool outputs but named no tool call",
            cancel_run=True,
        )

    @classmethod
    def failure(cls, error: BaseException, *, run_started: bool) -> Ending:
        """An unexpected failure (an activity after its retries, a malformed result)."""
        return cls(
            outcome=Outcome.FAILED,
            reason=short(f"the run stopped on an unexpected failure: {caller_text(error)}"),
            cancel_run=run_started,
            error=True,
        )


def ending_for(state: RunState) -> Ending | None:
    """The ending a terminal model state means; None while the run goes on."""
    outcome = _OUTCOME_OF_STATUS.get(state.status)
    if outcome is None:
        return None
    if outcome is Outcome.COMPLETED:
        return Ending(outcome=outcome, answer=state.answer)
    reason = state.reason or f"the run ended as {state.status.value}"
    return Ending(outcome=outcome, reason=short(reason))


def error_text(error: BaseException) -> str:
    """An error in one line or so.

    An activity's failure reaches the orchestrator as the SDK's
    "Activity function 'x' failed: Type: message \\n details": the part before the
    details is kept. Any other error is named by its type.
    """
    text = str(error).split(" \n ", 1)[0].strip()
    if text.startswith("Activity function "):
        return text
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


SAFE_ERRORS = frozenset(
    {
        "ServiceUnavailableError",
        "ModelServiceError",
        "ModelRequestError",
        "CredentialsRejectedError",
        "TeardownIncompleteError",
    }
)
"""Errors whose message is written for the caller (backends/errors.py); any other
error's text may name internals (a storage host and port, a file path) and stays in
the logs."""

_ACTIVITY_FAILURE = re.compile(r"^Activity function '([^']*)' failed: (\w+): (.*)$", re.S)


def caller_text(error: BaseException) -> str:
    """An unexpected failure as the caller may see it. An activity's failure (an SDK's
    text may name hosts, ports, paths): where it happened and its kind, the message
    only for the app's own errors written for callers. A failure of the orchestration's
    own code (reading its input or state) as it is."""
    text = error_text(error)
    failed = _ACTIVITY_FAILURE.match(text)
    if failed is None:  # raised by the orchestration's own code, reading its own state
        return text
    activity, kind, message = failed.groups()
    if kind in SAFE_ERRORS:
        return f"{activity}: {message}"
    return f"{activity} failed ({kind}; the details are in the app's logs)"


OUTAGE_ERROR = "ServiceUnavailableError"
"""The kind of an activity failure an outage caused (durable_assistant/outages.py)."""

WAITS_OUT_OUTAGES_FROM = (1, 1)
"""The orchestration version from which start, poll and submit are called again after
an outage for as long as the deadline allows; older instances keep the fixed retries
they were started with (their histories hold those retries)."""


def waits_out_outages(version: str | None) -> bool:
    """Whether an instance of this orchestration version waits outages out."""
    try:
        parts = tuple(int(part) for part in (version or "").split("."))
    except ValueError:
        return False
    return bool(version) and parts >= WAITS_OUT_OUTAGES_FROM


def outage_of(error: BaseException) -> str | None:
    """What was out, when an activity failed on an outage (`activity: reason`); None
    for any other failure, which retrying cannot be trusted to fix."""
    failed = _ACTIVITY_FAILURE.match(error_text(error))
    if failed is None or failed.group(2) != OUTAGE_ERROR:
        return None
    activity, _, message = failed.groups()
    return f"{activity}: {message}"


def trace_of(step: int, call: ToolCall, result: ToolResult) -> ToolTrace:
    """One tool call as the caller sees it: arguments and a short output."""
    return ToolTrace(
        step=step,
        call_id=call.call_id,
        name=call.name,
        arguments=truncate(call.arguments, TRACE_ARGUMENTS_CHARS),
        output=truncate(result.output, TRACE_OUTPUT_CHARS),
        ok=result.ok,
        duration_ms=result.duration_ms,
    )


def not_run_result(call: ToolCall, reason: str | None) -> ToolResult:
    """What the log says of a tool call the run ended before running."""
    text = f"{ERROR_PREFIX}not run: the run ended first ({reason or 'no reason given'})"
    return ToolResult(call_id=call.call_id, name=call.name, output=short(text), ok=False)


def tool_failure_result(call: ToolCall, error: BaseException) -> ToolResult:
    """The output the model gets when a tool activity itself failed after its retries."""
    text = f"{ERROR_PREFIX}the tool {call.name} could not run: {error_text(error)}"
    return ToolResult(call_id=call.call_id, name=call.name, output=short(text), ok=False)


def estimated_history_events(state: LoopState) -> int:
    """A deterministic upper estimate of this execution's history length."""
    return BASE_EVENTS + EVENTS_PER_TASK * state.tasks_scheduled


def should_continue_as_new(state: LoopState) -> bool:
    """True when the next wait could take history past the plan's limit.

    Leaves headroom for one more round (tools, submit, cancel, teardown), and never
    fires before the execution made progress.
    """
    if state.tasks_scheduled < MIN_TASKS_PER_EXECUTION:
        return False
    limit = state.plan.history_event_limit
    headroom = min(40, limit // 4)
    return estimated_history_events(state) + headroom >= limit


def initial_state(data: Any, now: datetime) -> LoopState:
    """The loop state an execution starts from.

    The input is a `RunPlan` for a new run (from the HTTP trigger) or a `LoopState`
    (from `continue_as_new`); `now` is the replay-safe time the run starts at.
    """
    if isinstance(data, str | bytes):
        data = json.loads(data)
    if isinstance(data, dict) and "plan" in data:
        return LoopState.from_json(data)
    return LoopState.begin(RunPlan.from_json(data), now)


def salvaged_state(data: Any, now: datetime) -> LoopState:
    """What can be read of an input `initial_state` could not read, so the run still
    ends the normal way: the handle (to cancel and tear down what it names) and the
    plan, or a stand-in plan naming only the backend when the plan is unreadable."""
    if isinstance(data, str | bytes):
        try:
            data = json.loads(data)
        except ValueError:
            data = None
    raw: dict[str, Any] = data if isinstance(data, dict) else {}
    handle = _readable(RunHandle, raw.get("handle"))
    plan_data = raw.get("plan", raw)
    plan = _readable(RunPlan, plan_data)
    if plan is None:
        backend = handle.backend if handle is not None else None
        if backend is None and isinstance(plan_data, dict):
            backend = _readable_backend(plan_data.get("backend"))
        plan = RunPlan(
            question="(an input this version could not read)",
            backend=backend or Backend.RESPONSES,
            instructions="",
            tools=[],
            model="unknown",
            deadline_seconds=MIN_DEADLINE_SECONDS,
            poll_initial_ms=MIN_POLL_MS,
            poll_max_ms=MIN_POLL_MS,
        )
    return LoopState(
        plan=plan,
        started_at=now,
        deadline_at=now,
        interval_ms=plan.poll_initial_ms,
        handle=handle,
    )


def _readable(model: type[StoredT], value: Any) -> StoredT | None:
    try:
        return model.from_json(value) if value is not None else None
    except ValueError:  # pydantic's ValidationError is one
        return None


def _readable_backend(value: Any) -> Backend | None:
    try:
        return Backend(value)
    except ValueError:
        return None


def result_of(
    state: LoopState,
    ending: Ending,
    *,
    finished_at: datetime,
    teardown: TeardownReport | None,
    version: str | None = None,
) -> RunResult:
    """The orchestration's output."""
    return RunResult(
        outcome=ending.outcome,
        answer=ending.answer,
        reason=ending.reason,
        backend=state.plan.backend,
        tool_calls=state.tool_calls,
        usage=state.usage,
        steps=state.step,
        started_at=state.started_at,
        finished_at=finished_at,
        version=version,
        handle=state.handle,
        teardown=teardown,
    )
