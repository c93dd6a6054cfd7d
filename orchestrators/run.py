"""The run orchestrator: the model run's loop, made durable.

start → loop (timer raced against the cancel event → poll; tools in parallel →
one submit) → on any end, cancel if needed, then teardown exactly once → result.

Deterministic by construction: the time is `context.current_utc_datetime`, every
decision is a pure function in `durable_assistant.run_loop` / `.polling`, and all
I/O is in activities. Logging only when not replaying, always with the instance id.

Cancellation: one `wait_for_external_event(CANCEL_EVENT)` task per execution is
raced against every wait (`task_any`), so a cancel raised at any time — even while
an activity runs — is seen at the next wait or before the next submit. The Python
SDK drops events still unread when an execution continues as new (its
`continue_as_new` has no preserve-unprocessed-events option), so the loop does not
continue as new while a cancel event is in this execution's history.
"""

# No `from __future__ import annotations`: the Functions worker reads the
# function's parameter annotations at runtime and needs real types.
import json
import logging
from collections.abc import Callable, Generator
from typing import Any, NamedTuple

import azure.durable_functions as df
from azure.durable_functions.models.history.HistoryEventType import HistoryEventType

import activities
from durable_assistant import polling, telemetry
from durable_assistant.events import (
    EventSlot,
    StepAhead,
    end_event,
    finished_again,
    with_slot,
)
from durable_assistant.logging_setup import run_log
from durable_assistant.model import (
    Model,
    Phase,
    RunHandle,
    RunState,
    RunStatus,
    StartInput,
    Step,
    SubmitInput,
    TeardownReport,
    ToolCall,
    ToolInvocation,
    ToolResult,
)
from durable_assistant.run_loop import (
    CANCEL_EVENT,
    Ending,
    LoopState,
    ending_for,
    error_text,
    initial_state,
    outage_of,
    result_of,
    salvaged_state,
    should_continue_as_new,
    tool_failure_result,
    waits_out_outages,
)

bp = df.Blueprint()
logger = logging.getLogger(__name__)

ORCHESTRATOR_NAME = "run_orchestrator"
"""The name `POST /api/runs` starts."""

Task = Any  # the SDK's TaskBase; it has no public type to annotate with
Yielding = Generator[Task, Any, Any]


class ToolTask(NamedTuple):
    """A scheduled tool call activity and the event slot it writes in."""

    task: Task
    slot: EventSlot | None


class RunFailedError(Exception):
    """Raised after teardown when the run ended on an unexpected failure."""


def _retry(policy: polling.RetryPolicy) -> df.RetryOptions:
    return df.RetryOptions(policy.first_interval_ms, policy.max_attempts)


Policy = polling.RetryPolicy | None
"""An activity's durable retry options; None: called once (the loop decides)."""


class _Run:
    """One execution of the loop over a `DurableOrchestrationContext`."""

    def __init__(self, context: df.DurableOrchestrationContext, state: LoopState) -> None:
        self.ctx = context
        self.state = state
        self.instance_id: str = context.instance_id
        self.version: str | None = context.version or None
        self.waits_out_outages = waits_out_outages(self.version)
        self.cancel: Task = context.wait_for_external_event(CANCEL_EVENT)
        self.announced: StepAhead | None = None
        """Where the last model call wrote its step's tool call events, if it did."""

    # -- logging and status --

    def log(self, message: str, *args: Any) -> None:
        """Log once, not again on every replay, with the instance id."""
        if not self.ctx.is_replaying:
            run_log(logger, self.instance_id).info(message, *args)

    def phase(self, phase: Phase) -> None:
        """Publish the progress (custom status) for `phase`; the next activity records
        the change in the run's event log."""
        self.ctx.set_custom_status(self.state.progress(phase, self.version).to_json())
        self.state = self.state.recording(phase)

    # -- scheduling (every task counts towards the history estimate) --

    def _activity(self, activity: Any, policy: Policy, payload: Model) -> Task:
        slot, self.state = self.state.event_slot()
        return self._schedule(activity, policy, with_slot(payload.to_json(), slot))

    def _model_activity(
        self, activity: Any, policy: Policy, payload: Model
    ) -> tuple[Task, StepAhead | None]:
        """Schedule a model call, and say where the tool calls it may ask for go."""
        slot, self.state = self.state.model_call_slot()
        task = self._schedule(activity, policy, with_slot(payload.to_json(), slot))
        return task, slot.ahead if slot is not None else None

    def _tool_activity(
        self, invocation: ToolInvocation, call: int, calls: int, announced: StepAhead | None
    ) -> ToolTask:
        """Schedule one of a step's `calls` tool calls, the `call`-th (`announced`:
        where the model call that asked for them wrote their `started` events)."""
        slot, self.state = self.state.tool_slot(call, calls, announced)
        data = with_slot(invocation.to_json(), slot)
        return ToolTask(self._schedule(activities.run_tool, polling.TOOL_RETRY, data), slot)

    def _schedule(self, activity: Any, policy: Policy, data: dict[str, Any]) -> Task:
        self.state = self.state.scheduled()
        body = telemetry.carry(data, self.state.plan)
        if policy is None:
            return self.ctx.call_activity(activity, body)
        return self.ctx.call_activity_with_retry(activity, _retry(policy), body)

    def wait(
        self, wait_ms: float, outage: str | None = None
    ) -> Generator[Task, Any, Ending | None]:
        """A durable timer raced against the cancel event; an ending when cut short
        (`outage`: what the run is waiting out, said when the deadline ends it)."""
        if self.cancel.is_completed:
            return Ending.cancelled(self.cancel.result)
        now = self.ctx.current_utc_datetime
        if polling.past_deadline(now, self.state.deadline_at):
            return Ending.deadline(self.state.plan.deadline_seconds, outage)
        timer = self.ctx.create_timer(polling.wake_at(now, wait_ms, self.state.deadline_at))
        self.state = self.state.scheduled()
        winner = yield self.ctx.task_any([self.cancel, timer])
        if winner is self.cancel:
            if not timer.is_completed:
                timer.cancel()  # an open timer would keep the instance running
            return Ending.cancelled(self.cancel.result)
        return None

    def raced(self, task: Task) -> Generator[Task, Any, Any]:
        """The task's result, with the cancel event raced against it.

        A start or submit may follow its model turn for a while: racing makes the
        SDK deliver a cancel raised meanwhile (an event is only delivered to a task
        that was yielded), so the loop sees it the moment the call returns.
        """
        if not self.cancel.is_completed:
            yield self.ctx.task_any([task, self.cancel])
        return (yield task)

    def model_call(
        self, activity: Any, payload: Model, resume: Callable[[Step], Model]
    ) -> Generator[Task, Any, Step | Ending]:
        """One model call; a throttled answer is waited out, then the call is retried.

        (A throttled poll is not retried here: it goes back to the main loop, whose
        next wait honours it, so a long throttle still continues as new.)

        An outage (`outage_of`) is waited out with backoff and the call made again,
        for as long as the deadline allows; any other failure ends the run at once.
        Instances of versions before 1.1 keep the durable retry options instead.
        """
        policy = None if self.waits_out_outages else polling.MODEL_CALL_RETRY
        failures = 0
        while True:
            task, ahead = self._model_activity(activity, policy, payload)
            try:
                step = Step.from_json((yield from self.raced(task)))
            except Exception as error:
                outage = outage_of(error) if self.waits_out_outages else None
                if outage is None:
                    raise
                failures += 1
                ending = yield from self.wait_out(outage, failures)
                if ending is not None:
                    return ending
                continue
            failures = 0
            self.state = self.state.acted_on(step.handle, step.state)
            self.announced = ahead if step.tools_announced else None
            if step.state.status is not RunStatus.THROTTLED or activity is activities.poll_run:
                return step
            wait_s = polling.throttle_wait_seconds(step.state.retry_after_seconds)
            self.log("throttled; retrying in %.1f s", wait_s)
            ending = yield from self.wait(wait_s * 1000)
            if ending is not None:
                return ending
            payload = resume(step)

    def wait_out(self, outage: str, failures: int) -> Generator[Task, Any, Ending | None]:
        """Wait before calling again after an outage; an ending when the deadline (or
        a cancel) comes first."""
        wait_ms = polling.outage_wait_ms(failures, self.state.plan.deadline_seconds)
        self.log("%s; calling again in %.1f s", outage, wait_ms / 1000)
        ending = yield from self.wait(wait_ms, outage)
        if ending is None and polling.past_deadline(
            self.ctx.current_utc_datetime, self.state.deadline_at
        ):
            return Ending.deadline(self.state.plan.deadline_seconds, outage)
        return ending

    # -- the loop --

    def drive(self) -> Generator[Task, Any, Ending | None]:
        """Run until an ending; None when this execution continued as new."""
        last = self.state.last
        if last is None:
            self.phase(Phase.STARTING)
            plan = self.state.plan
            self.log("starting a %s run (deadline %d s)", plan.backend.value, plan.deadline_seconds)
            start = StartInput(instance_id=self.instance_id, plan=plan)
            started = yield from self.model_call(
                activities.start_run,
                start,
                lambda step: start.model_copy(update={"handle": step.handle}),
            )
            if isinstance(started, Ending):
                return started
            self.state = self.state.new_turn()
            last = started.state

        while True:
            ending = ending_for(last)
            if ending is not None:
                return ending
            got: Step | Ending | None
            if last.status is RunStatus.REQUIRES_ACTION:
                got = yield from self.run_tools_and_submit(last.tool_calls)
            else:
                got = yield from self.wait_and_poll(last)
            if got is None:
                return None
            if isinstance(got, Ending):
                return got
            last = got.state

    def wait_and_poll(self, last: RunState) -> Generator[Task, Any, Step | Ending | None]:
        """Wait (adaptive interval or the service's hint), then poll once."""
        if self.cancel.is_completed:
            return Ending.cancelled(self.cancel.result)
        if polling.past_deadline(self.ctx.current_utc_datetime, self.state.deadline_at):
            return Ending.deadline(self.state.plan.deadline_seconds)
        if should_continue_as_new(self.state) and not self.cancel_in_history():
            self.log("continuing as new (generation %d)", self.state.generation + 1)
            self.ctx.continue_as_new(self.state.continued(last).to_json())
            return None
        self.phase(Phase.WAITING_FOR_MODEL)
        if last.status is RunStatus.THROTTLED:
            wait_s = polling.throttle_wait_seconds(last.retry_after_seconds)
            self.log("throttled; polling again in %.1f s", wait_s)
            wait_ms = wait_s * 1000
        else:
            wait_ms = polling.wait_before_poll_ms(self.state.interval_ms, last.poll_after_ms)
        ending = yield from self.wait(wait_ms)
        if ending is not None:
            return ending
        handle = self.handle()
        got = yield from self.model_call(activities.poll_run, handle, lambda step: step.handle)
        self.state = self.state.polled()
        return got

    def run_tools_and_submit(self, calls: list[ToolCall]) -> Generator[Task, Any, Step | Ending]:
        """Fan every tool call out in parallel, fan in, submit all outputs at once."""
        plan = self.state.plan
        announced, self.announced = self.announced, None
        ending = self.tools_ending(calls)
        if ending is not None:
            if announced is not None:  # their `started` events are written: close them
                self.state = self.state.tools_not_run(calls, ending.reason)
            return ending
        self.phase(Phase.RUNNING_TOOLS)
        self.log("step %d: running %d tool calls", self.state.step + 1, len(calls))
        scheduled = [
            self._tool_activity(
                ToolInvocation(instance_id=self.instance_id, call=call, allowed_tools=plan.tools),
                index,
                len(calls),
                announced,
            )
            for index, call in enumerate(calls)
        ]
        results = yield from self.gather_tools(calls, [tool.task for tool in scheduled])
        self.state = self.state.with_tool_results(calls, results).owing(
            [
                finished_again(tool.slot, result)
                for tool, result in zip(scheduled, results, strict=True)
                if tool.slot is not None
            ]
        )
        if self.cancel.is_completed:
            return Ending.cancelled(self.cancel.result)
        self.phase(Phase.SUBMITTING)
        submit = SubmitInput(handle=self.handle(), results=results)
        got = yield from self.model_call(
            activities.submit_tool_outputs,
            submit,
            lambda step: submit.model_copy(update={"handle": step.handle}),
        )
        if isinstance(got, Step):
            self.state = self.state.new_turn()
        return got

    def tools_ending(self, calls: list[ToolCall]) -> Ending | None:
        """Why the run ends instead of running a step's tool calls, if it does."""
        plan = self.state.plan
        if self.cancel.is_completed:
            return Ending.cancelled(self.cancel.result)
        if polling.past_deadline(self.ctx.current_utc_datetime, self.state.deadline_at):
            return Ending.deadline(plan.deadline_seconds)
        if not calls:
            return Ending.no_tool_calls()
        if self.state.step >= plan.max_steps:
            return Ending.too_many_steps(plan.max_steps)
        return None

    def gather_tools(
        self, calls: list[ToolCall], tasks: list[Task]
    ) -> Generator[Task, Any, list[ToolResult]]:
        """All tool results; a tool activity that failed after retries becomes an error
        output for the model (a tool never kills the run)."""
        try:
            outputs = yield self.ctx.task_all(tasks)
            return [ToolResult.from_json(output) for output in outputs]
        except Exception as error:
            self.log("a tool activity failed after its retries: %s", error)
        results: list[ToolResult] = []
        for call, task in zip(calls, tasks, strict=True):
            try:
                output = yield task  # already scheduled: waits for it, schedules nothing
                results.append(ToolResult.from_json(output))
            except Exception as error:
                results.append(tool_failure_result(call, error))
        return results

    def handle(self) -> RunHandle:
        """The run's handle; before start returned, one that names only the instance."""
        return self.state.handle or RunHandle(
            backend=self.state.plan.backend, instance_id=self.instance_id
        )

    def cancel_in_history(self) -> bool:
        """Whether a cancel event is anywhere in this execution's history (read or not)."""
        return any(
            event.event_type == HistoryEventType.EVENT_RAISED and event.Name == CANCEL_EVENT
            for event in self.ctx.histories
        )

    # -- the end: every path comes here once --

    def finish(self, ending: Ending) -> Generator[Task, Any, dict[str, Any]]:
        """Cancel if the run may still be going, tear down once, and build the result."""
        self.phase(Phase.TEARING_DOWN)
        if ending.cancel_run and self.state.handle is not None:
            try:
                cancel = self._activity(
                    activities.cancel_run, polling.MODEL_CALL_RETRY, self.handle()
                )
                step = Step.from_json((yield cancel))
                self.state = self.state.acted_on(step.handle, step.state)
            except Exception as error:
                self.log("cancel_run failed; tearing down anyway: %s", error)
        now = self.ctx.current_utc_datetime
        end = end_event(result_of(self.state, ending, finished_at=now, teardown=None))
        self.state = self.state.recording_event(end)
        slot, self.state = self.state.event_slot(always=True)  # teardown records the end
        teardown: TeardownReport | None = None
        try:
            data = with_slot(self.handle().to_json(), slot)
            task = self._schedule(activities.teardown_run, polling.TEARDOWN_RETRY, data)
            teardown = TeardownReport.from_json((yield task))
        except Exception as error:
            self.log("teardown_run failed; the purge will delete what is left: %s", error)
            yield from self.record_events(slot)
        self.phase(Phase.DONE)
        result = result_of(
            self.state,
            ending,
            finished_at=self.ctx.current_utc_datetime,
            teardown=teardown,
            version=self.version,
        )
        self.log(
            "run ended: %s%s", ending.outcome.value, f" ({ending.reason})" if ending.reason else ""
        )
        if not self.ctx.is_replaying:
            telemetry.record_run(
                self.state.plan,
                self.instance_id,
                started_at=self.state.started_at,
                finished_at=self.ctx.current_utc_datetime,
                outcome=ending.outcome.value,
                usage=self.state.usage,
                tool_calls=len(self.state.tool_calls),
                failed=ending.error,
            )
        if ending.error:
            # The result (trace, usage, steps) goes with the failure: its JSON is the
            # error message, which the status reads back (`api.failed_result`).
            raise RunFailedError(json.dumps(result.to_json()))
        return result.to_json()

    def record_events(self, slot: EventSlot | None) -> Yielding:
        """Record the events of an activity that failed (the same slot, so whatever it
        wrote is written again, not twice)."""
        if slot is None:
            return
        try:
            data = with_slot({"instance_id": self.instance_id}, slot)
            yield self._schedule(activities.record_run_events, polling.TEARDOWN_RETRY, data)
        except Exception as error:
            self.log("recording the run's end failed: %s", error)


def run_orchestration(context: df.DurableOrchestrationContext) -> Yielding:
    """The orchestration, as a plain generator function tests drive directly."""
    data, now = context.get_input(), context.current_utc_datetime
    run: _Run | None = None
    try:
        run = _Run(context, initial_state(data, now))
        ending = yield from run.drive()
    except Exception as error:
        if run is None:  # an input this code cannot read: end what it names
            run = _Run(context, salvaged_state(data, now))
        ending = Ending.failure(error, run_started=run.state.handle is not None)
        run.log("unexpected failure: %s", error_text(error))
    if ending is None:  # continued as new: the next execution goes on
        return None
    return (yield from run.finish(ending))


@bp.orchestration_trigger(context_name="context")  # type: ignore[untyped-decorator]
def run_orchestrator(context: df.DurableOrchestrationContext) -> Yielding:
    """Answer one question with the model and the app's tools (see module docstring)."""
    return (yield from run_orchestration(context))
