"""Activities that talk to the model service: start, poll, submit, cancel, teardown.

Each takes one JSON dict (a domain model's `to_json()`), validates it, calls the
core and returns the result's `to_json()`. Failures raise, so the orchestrator's
retry options apply; a 429 the SDK gave up on comes back as a `throttled` state.

The events the orchestrator left for an activity are written while its model call
goes on (`SlotWriter.write_soon`), so the log costs the call no time; the activity
returns once they are stored.
"""

# No `from __future__ import annotations`: the Functions worker reads the
# parameter annotations at runtime and needs real types.
import logging
from typing import Any

from activities.blueprint import bp
from durable_assistant import service
from durable_assistant.composition import services
from durable_assistant.events import step_events, take_slot
from durable_assistant.model import RunHandle, StartInput, SubmitInput
from durable_assistant.telemetry import traced_activity

logger = logging.getLogger(__name__)


@bp.activity_trigger(input_name="payload")  # type: ignore[untyped-decorator]
@traced_activity("start_run")
def start_run(payload: dict[str, Any]) -> dict[str, Any]:
    """Create the run's objects (only those a resumed handle lacks) and start it."""
    slot = take_slot(payload)
    start = StartInput.from_json(payload)
    logger.info("instance %s: start_run", start.instance_id, extra=_ids(start.instance_id))
    with services().run_events.writer(start.instance_id, slot) as events:
        events.write_soon()
        text = events.text_sink()
        step = service.start_run(start, on_text=text)
        text.flush()
        events.write(*step_events(step))
    return step.to_json()


@bp.activity_trigger(input_name="payload")  # type: ignore[untyped-decorator]
@traced_activity("poll_run")
def poll_run(payload: dict[str, Any]) -> dict[str, Any]:
    """Where the run is now."""
    slot = take_slot(payload)
    handle = RunHandle.from_json(payload)
    with services().run_events.writer(handle.instance_id, slot) as events:
        events.write_soon()
        step = service.poll_run(handle)
        events.write(*step_events(step))
    return step.to_json()


@bp.activity_trigger(input_name="payload")  # type: ignore[untyped-decorator]
@traced_activity("submit_tool_outputs")
def submit_tool_outputs(payload: dict[str, Any]) -> dict[str, Any]:
    """Submit every tool output of one step."""
    slot = take_slot(payload)
    submit = SubmitInput.from_json(payload)
    logger.info(
        "instance %s: submit_tool_outputs (%d outputs)",
        submit.handle.instance_id,
        len(submit.results),
        extra=_ids(submit.handle.instance_id),
    )
    with services().run_events.writer(submit.handle.instance_id, slot) as events:
        events.write_soon()
        text = events.text_sink()
        step = service.submit_outputs(submit, on_text=text)
        text.flush()
        events.write(*step_events(step))
    return step.to_json()


@bp.activity_trigger(input_name="payload")  # type: ignore[untyped-decorator]
@traced_activity("cancel_run")
def cancel_run(payload: dict[str, Any]) -> dict[str, Any]:
    """Ask the service to stop the run."""
    slot = take_slot(payload)
    handle = RunHandle.from_json(payload)
    logger.info("instance %s: cancel_run", handle.instance_id, extra=_ids(handle.instance_id))
    with services().run_events.writer(handle.instance_id, slot) as events:
        events.write_soon()
        step = service.cancel_run(handle)
        events.write(*step_events(step))
    return step.to_json()


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
    logger.info("instance %s: teardown_run", handle.instance_id, extra=_ids(handle.instance_id))
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


def _ids(instance_id: str) -> dict[str, str]:
    return {"instance_id": instance_id}
