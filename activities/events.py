"""The activity that records a run's events when the activity meant to record them
failed (the orchestrator hands it the same event slot, so nothing is written twice)."""

# No `from __future__ import annotations`: the Functions worker reads the
# parameter annotations at runtime and needs real types.
from typing import Any

from activities.blueprint import bp
from durable_assistant.composition import services
from durable_assistant.events import take_slot
from durable_assistant.telemetry import traced_activity


@bp.activity_trigger(input_name="payload")  # type: ignore[untyped-decorator]
@traced_activity("record_run_events")
def record_run_events(payload: dict[str, Any]) -> None:
    """Write the events of the slot in `payload` for the instance it names."""
    slot = take_slot(payload)
    instance_id = payload.get("instance_id")
    if not isinstance(instance_id, str) or not instance_id:
        raise ValueError("record_run_events needs an instance_id")
    services().run_events.writer(instance_id, slot).write()
