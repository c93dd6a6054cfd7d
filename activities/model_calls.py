"""Activities that talk to the model service: start, poll, submit, cancel, teardown.

Each takes one JSON dict (a domain model's `to_json()`), validates it, calls the
core and returns the result's `to_json()`. Failures raise; an outage of the model
service or the app's storage as `ServiceUnavailableError` (see `outages.py`), which
the orchestrator waits out while the run's deadline allows. A 429 the SDK gave up on
comes back as a `throttled` state.

The events the orchestrator left for an activity are written while its model call
goes on (`SlotWriter.write_soon`), so the log costs the call no time; the activity
returns once they are stored.
"""

# No `from __future__ import annotations`: the Functions worker reads the
# parameter annotations at runtime and needs real types.
import logging
from collections.abc import Callable
from typing import Any

from activities.blueprint import bp
from durable_assistant import service
from durable_assistant.backends.following import TextHook
from durable_assistant.composition import services
from durable_assistant.events import (
    EventSlot,
    StoredEvent,
    announced_events,
    step_events,
    take_slot,
)
from durable_assistant.logging_setup import run_log
from durable_assistant.model import RunHandle, RunStatus, StartInput, Step, SubmitInput
from durable_assistant.outages import outages_named
from durable_assistant.telemetry import traced_activity

logger = logging.getLogger(__name__)


@bp.activity_trigger(input_name="payload")  # type: ignore[untyped-decorator]
@traced_activity("start_run")
def start_run(payload: dict[str, Any]) -> dict[str, Any]:
    """Create the run's objects (only those a resumed handle lacks) and start it."""
    slot = take_slot(payload)
    start = StartInput.from_json(payload)
    run_log(logger, start.instance_id).info("start_run")
    return _recorded(start.instance_id, slot, lambda text: service.start_run(start, text))


@bp.activity_trigger(input_name="payload")  # type: ignore[untyped-decorator]
@traced_activity("poll_run")
def poll_run(payload: dict[str, Any]) -> dict[str, Any]:
    """Where the run is now."""
    slot = take_slot(payload)
    handle = RunHandle.from_json(payload)
    return _recorded(handle.instance_id, slot, lambda _: service.poll_run(handle), text=False)


@bp.activity_trigger(input_name="payload")  # type: ignore[untyped-decorator]
@traced_activity("submit_tool_outputs")
def submit_tool_outputs(payload: dict[str, Any]) -> dict[str, Any]:
    """Submit every tool output of one step."""
    slot = take_slot(payload)
    submit = SubmitInput.from_json(payload)
    run_log(logger, submit.handle.instance_id).info(
        "submit_tool_outputs (%d outputs)", len(submit.results)
    )
    return _recorded(
        submit.handle.instance_id, slot, lambda text: service.submit_outputs(submit, text)
    )


@bp.activity_trigger(input_name="payload")  # type: ignore[untyped-decorator]
@traced_activity("cancel_run")
def cancel_run(payload: dict[str, Any]) -> dict[str, Any]:
    """Ask the service to stop the run."""
    slot = take_slot(payload)
    handle = RunHandle.from_json(payload)
    run_log(logger, handle.instance_id).info("cancel_run")
    return _recorded(handle.instance_id, slot, lambda _: service.cancel_run(handle), text=False)


@bp.activity_trigger(input_name="payload")  # type: ignore[untyped-decorator]
@traced_activity("teardown_run")
def teardown_run(payload: dict[str, Any]) -> dict[str, Any]:
    """Record the run's end, then delete everything the run created; already-gone
    objects count as deleted.

    The end is written first, so watchers have the answer while teardown goes on; a
    failure to write it does not hold up the deletions, it is tried once more after
    them (and raised, so the activity is retried, when that fails too).
    """
    slot = take_slot(payload)
    handle = RunHandle.from_json(payload)
    run_log(logger, handle.instance_id).info("teardown_run")
    events = services().run_events.writer(handle.instance_id, slot)
    try:
        events.write()
        written = True
    except Exception:
        logger.warning(
            "instance %s: could not record the run's end before teardown", handle.instance_id
        )
        written = False
    report = service.teardown_run(handle)
    if not written:
        events.write()
    return report.to_json()


def _recorded(
    instance_id: str,
    slot: EventSlot | None,
    call: Callable[[TextHook | None], Step],
    *,
    text: bool = True,
) -> dict[str, Any]:
    """One model call between its events: the orchestrator's (written while the call
    goes), the model's text as it comes (when `text`), then the step's own — with,
    when the model asks for tools, each tool call's `started` event, in the slot the
    orchestrator will run it in (`events.announced_events`): one write for them all,
    and none by the tool calls."""
    with outages_named(instance_id), services().run_events.writer(instance_id, slot) as events:
        events.write_soon()
        sink = events.text_sink() if text else None
        step = call(sink)
        rest = sink.close() if sink is not None else []
        ahead = slot.ahead if slot is not None else None
        announced: list[StoredEvent] = []
        if ahead is not None and step.state.status is RunStatus.REQUIRES_ACTION:
            announced = announced_events(ahead, step.state.tool_calls)
        events.write(*rest, *step_events(step), ahead=announced)  # the last text, usage: one write
    if announced:
        step = step.model_copy(update={"tools_announced": True})
    return step.to_json()
