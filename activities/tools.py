"""The tool activity: one model tool call, run from the registry.

A tool's own failure is its output text (a `ToolResult` with ok=false) by design,
so the model can react; only a malformed input raises.
"""

# No `from __future__ import annotations`: the Functions worker reads the
# parameter annotations at runtime and needs real types.
import logging
from typing import Any

from activities.blueprint import bp
from durable_assistant import service
from durable_assistant.composition import services
from durable_assistant.events import take_slot, tool_finished, tool_started
from durable_assistant.logging_setup import run_log
from durable_assistant.model import ToolInvocation
from durable_assistant.telemetry import traced_activity

logger = logging.getLogger(__name__)


@bp.activity_trigger(input_name="payload")  # type: ignore[untyped-decorator]
@traced_activity("run_tool")
def run_tool(payload: dict[str, Any]) -> dict[str, Any]:
    """Run one tool call and return its output for the model (recording it as it
    starts and as it finishes in the run's event log). Its started event is written
    by the model call that asked for it, with that call's last events, unless the slot
    says otherwise (`EventSlot.written`); then the tool does not wait for its write.
    Nor does the activity wait for the finished event's write: the run's next
    activity writes that one again (`events.finished_again`), and is the only one to
    write it for a step's only call (it follows at once: one request fewer)."""
    slot = take_slot(payload)
    invocation = ToolInvocation.from_json(payload)
    run_log(logger, invocation.instance_id).info(
        "run_tool %s (call %s)", invocation.call.name, invocation.call.call_id
    )
    with services().run_events.writer(invocation.instance_id, slot) as events:
        place = events.place
        if not events.started_written:
            events.write_soon(tool_started(invocation.call, events.step, **place))  # as it runs
        result = service.run_tool(invocation)
        finished = tool_finished(result, events.step, **place)
        events.write_last(*([finished] if place.get("calls") != 1 else []))  # as it returns
    return result.to_json()
