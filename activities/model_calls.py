"""Activities that talk to the model service: start, poll, submit, cancel, teardown.

Each takes one JSON dict (a domain model's `to_json()`), validates it, calls the
core and returns the result's `to_json()`. Failures raise, so the orchestrator's
retry options apply; a 429 the SDK gave up on comes back as a `throttled` state.
"""

# No `from __future__ import annotations`: the Functions worker reads the
# parameter annotations at runtime and needs real types.
import logging
from typing import Any

from activities.blueprint import bp
from durable_assistant import service
from durable_assistant.model import RunHandle, StartInput, SubmitInput
from durable_assistant.telemetry import traced_activity

logger = logging.getLogger(__name__)


@bp.activity_trigger(input_name="payload")  # type: ignore[untyped-decorator]
@traced_activity("start_run")
def start_run(payload: dict[str, Any]) -> dict[str, Any]:
    """Create the run's objects (only those a resumed handle lacks) and start it."""
    start = StartInput.from_json(payload)
    logger.info("instance %s: start_run", start.instance_id, extra=_ids(start.instance_id))
    return service.start_run(start).to_json()


@bp.activity_trigger(input_name="payload")  # type: ignore[untyped-decorator]
@traced_activity("poll_run")
def poll_run(payload: dict[str, Any]) -> dict[str, Any]:
    """Where the run is now."""
    handle = RunHandle.from_json(payload)
    return service.poll_run(handle).to_json()


@bp.activity_trigger(input_name="payload")  # type: ignore[untyped-decorator]
@traced_activity("submit_tool_outputs")
def submit_tool_outputs(payload: dict[str, Any]) -> dict[str, Any]:
    """Submit every tool output of one step."""
    submit = SubmitInput.from_json(payload)
    logger.info(
        "instance %s: submit_tool_outputs (%d outputs)",
        submit.handle.instance_id,
        len(submit.results),
        extra=_ids(submit.handle.instance_id),
    )
    return service.submit_outputs(submit).to_json()


@bp.activity_trigger(input_name="payload")  # type: ignore[untyped-decorator]
@traced_activity("cancel_run")
def cancel_run(payload: dict[str, Any]) -> dict[str, Any]:
    """Ask the service to stop the run."""
    handle = RunHandle.from_json(payload)
    logger.info("instance %s: cancel_run", handle.instance_id, extra=_ids(handle.instance_id))
    return service.cancel_run(handle).to_json()


@bp.activity_trigger(input_name="payload")  # type: ignore[untyped-decorator]
@traced_activity("teardown_run")
def teardown_run(payload: dict[str, Any]) -> dict[str, Any]:
    """Delete everything the run created; already-gone objects count as deleted."""
    handle = RunHandle.from_json(payload)
    logger.info("instance %s: teardown_run", handle.instance_id, extra=_ids(handle.instance_id))
    return service.teardown_run(handle).to_json()


def _ids(instance_id: str) -> dict[str, str]:
    return {"instance_id": instance_id}
