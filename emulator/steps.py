"""Run steps: the record of what a run did (tool calls with their outputs, the answer)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from emulator.model import PlannedCall
from emulator.state import RunRecord, new_id

Json = dict[str, Any]

# how an unfinished step ends when its run does
_STEP_END = {"cancelled": "cancelled", "expired": "expired", "failed": "failed"}


def _step(run: RunRecord, kind: str, details: Json, status: str, now: float) -> Json:
    wire = run.wire
    step: Json = {
        "id": new_id("step"),
        "object": "thread.run.step",
        "created_at": int(now),
        "assistant_id": wire["assistant_id"],
        "thread_id": wire["thread_id"],
        "run_id": wire["id"],
        "type": kind,
        "status": status,
        "step_details": details,
        "cancelled_at": None,
        "completed_at": int(now) if status == "completed" else None,
        "expired_at": None,
        "failed_at": None,
        "last_error": None,
        "metadata": {},
        "usage": None,
    }
    run.steps.append(step)
    return step


def tool_calls_step(run: RunRecord, calls: tuple[PlannedCall, ...], now: float) -> None:
    """The step of a turn that called tools; in progress until the outputs come."""
    tool_calls = [
        {
            "id": call.call_id,
            "type": "function",
            "function": {"name": call.name, "arguments": call.arguments, "output": None},
        }
        for call in calls
    ]
    _step(run, "tool_calls", {"type": "tool_calls", "tool_calls": tool_calls}, "in_progress", now)


def message_step(run: RunRecord, message_id: str, now: float) -> None:
    """The step of the answer: the assistant message it created."""
    details = {"type": "message_creation", "message_creation": {"message_id": message_id}}
    _step(run, "message_creation", details, "completed", now)


def record_outputs(run: RunRecord, outputs: Mapping[str, str], now: float) -> None:
    """Complete the waiting tool-calls step with the submitted outputs."""
    for step in run.steps:
        if step["type"] == "tool_calls" and step["status"] == "in_progress":
            for call in step["step_details"]["tool_calls"]:
                call["function"]["output"] = outputs.get(call["id"])
            step.update(status="completed", completed_at=int(now))


def close_steps(run: RunRecord, status: str, now: float) -> None:
    """End the steps still in progress the way their run ended."""
    ending = _STEP_END.get(status)
    for step in run.steps:
        if step["status"] != "in_progress":
            continue
        if ending is None:
            step.update(status="completed", completed_at=int(now))
        else:
            step.update(status=ending, **{f"{ending}_at": int(now)})
            if ending == "failed":
                step["last_error"] = run.wire["last_error"]
