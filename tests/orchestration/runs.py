"""Domain-level helpers for orchestration tests: plans, activity results, the entry.

The orchestrator under test is the function the worker would call: taken from
`function_app.app.get_functions()`, so registration and the SDK's
`Orchestrator.create` wrapper are part of every replay test.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from durable_assistant.model import (
    Backend,
    RunHandle,
    RunPlan,
    RunResult,
    RunState,
    RunStatus,
    Step,
    TeardownReport,
    ToolCall,
    ToolInvocation,
    ToolResult,
    Usage,
)
from durable_assistant.tools.builtin import SEED_QUESTION
from tests.orchestration.history import Episode, OrchestrationHost, OrchestratorEntry, Scheduled
from tests.support.function_index import user_function

INSTANCE = "run-1"
HANDLE = RunHandle(
    backend=Backend.RESPONSES, instance_id=INSTANCE, response_id="resp-1", response_ids=["resp-1"]
)


def orchestrator_entry() -> OrchestratorEntry:
    """The run orchestrator as indexed and invoked by the worker."""
    entry: OrchestratorEntry = user_function("run_orchestrator")
    return entry


def make_plan(**overrides: Any) -> RunPlan:
    values: dict[str, Any] = {
        "question": SEED_QUESTION,
        "backend": Backend.RESPONSES,
        "instructions": "Use the functions.",
        "tools": ["get_flights", "my_cat_born_date"],
        "model": "gpt-4o-mini",
        "deadline_seconds": 600,
        "poll_initial_ms": 500,
        "poll_max_ms": 2_000,
    }
    return RunPlan(**(values | overrides))


def new_host(**plan_overrides: Any) -> OrchestrationHost:
    return OrchestrationHost(
        orchestrator_entry(), make_plan(**plan_overrides).to_json(), instance_id=INSTANCE
    )


def step(status: RunStatus, handle: RunHandle = HANDLE, **state: Any) -> dict[str, Any]:
    return Step(handle=handle, state=RunState(status=status, **state)).to_json()


def pending(poll_after_ms: int | None = None) -> dict[str, Any]:
    return step(RunStatus.PENDING, poll_after_ms=poll_after_ms)


def requires(*calls: ToolCall, tokens: int = 10) -> dict[str, Any]:
    return step(RunStatus.REQUIRES_ACTION, tool_calls=list(calls), usage=usage(tokens))


def completed(answer: str, tokens: int = 10) -> dict[str, Any]:
    return step(RunStatus.COMPLETED, answer=answer, usage=usage(tokens))


def usage(tokens: int) -> Usage:
    return Usage(prompt_tokens=tokens, completion_tokens=tokens, total_tokens=2 * tokens)


def call(call_id: str, name: str, **arguments: Any) -> ToolCall:
    return ToolCall(call_id=call_id, name=name, arguments=json.dumps(arguments))


def tool_result(slot: Scheduled, output: Any, ok: bool = True) -> dict[str, Any]:
    """What run_tool returns for the invocation `slot` scheduled."""
    invocation = ToolInvocation.from_json(slot.input)
    text = output if isinstance(output, str) else json.dumps(output)
    return ToolResult(
        call_id=invocation.call.call_id, name=invocation.call.name, output=text, ok=ok
    ).to_json()


def teardown_done() -> dict[str, Any]:
    return TeardownReport(deleted=["resp-1"]).to_json()


def activity_counts(host: OrchestrationHost) -> Counter[str]:
    """How often each activity was scheduled in the current execution."""
    return Counter(slot.name for slot in host.slots if slot.kind == "activity")


def assert_ended_after_one_teardown(host: OrchestrationHost, episode: Episode) -> None:
    """The instance is done, teardown ran exactly once and was the last thing scheduled
    (but for the recording of its events when it failed), and replaying the whole
    history (twice) gives the same state."""
    assert episode.done
    assert activity_counts(host)["teardown_run"] == 1
    last = [slot.name for slot in host.slots if slot.name != "record_run_events"][-1]
    assert last == "teardown_run"
    first = host.replay()
    assert first == host.replay()
    assert first == (episode.state, episode.error)


def finish_with_teardown(host: OrchestrationHost, episode: Episode) -> Episode:
    """Complete the teardown `episode` scheduled; the instance's last episode."""
    teardown = episode.only("teardown_run")
    assert teardown.input == HANDLE.to_json() or teardown.input["instance_id"] == INSTANCE
    final = host.complete(teardown, teardown_done()).run()
    assert_ended_after_one_teardown(host, final)
    return final


def result(episode: Episode) -> RunResult:
    """The run's result, from the episode that ended the orchestration."""
    return RunResult.from_json(episode.output)
