"""Activity functions: thin adapters from Durable Functions to the core.

`bp` carries every activity: start_run, poll_run, run_tool, submit_tool_outputs,
cancel_run, teardown_run and record_run_events. Each takes and returns one domain model as JSON.
"""

from activities import events, model_calls, tools
from activities.blueprint import bp
from activities.events import record_run_events
from activities.model_calls import (
    cancel_run,
    poll_run,
    start_run,
    submit_tool_outputs,
    teardown_run,
)
from activities.tools import run_tool

__all__ = [
    "bp",
    "cancel_run",
    "events",
    "model_calls",
    "poll_run",
    "record_run_events",
    "run_tool",
    "start_run",
    "submit_tool_outputs",
    "teardown_run",
    "tools",
]
