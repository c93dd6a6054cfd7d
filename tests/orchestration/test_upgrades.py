"""A deploy meets runs in flight: inputs it cannot read end the normal way, and the
orchestration version each instance was started with is reported.

Driven through the real replay executor (`tests/orchestration/history.py`).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from durable_assistant.model import (
    SCHEMA_VERSION,
    Backend,
    Phase,
    Progress,
    RunHandle,
    RunResult,
    RunState,
    RunStatus,
)
from durable_assistant.run_loop import LoopState
from tests.orchestration.history import START, OrchestrationHost
from tests.orchestration.runs import (
    HANDLE,
    INSTANCE,
    assert_ended_after_one_teardown,
    completed,
    make_plan,
    new_host,
    orchestrator_entry,
    pending,
    teardown_done,
)


def carried_state(**changes: Any) -> dict[str, Any]:
    """The input of a later execution (continue-as-new) of a run that has started."""
    state = LoopState.begin(make_plan(), START).model_copy(
        update={"handle": HANDLE, "last": RunState(status=RunStatus.PENDING), "generation": 1}
    )
    return state.to_json() | changes


def test_a_carried_state_written_by_a_newer_deploy_ends_the_run_through_teardown() -> None:
    host = OrchestrationHost(
        orchestrator_entry(), carried_state(schema_version=SCHEMA_VERSION + 1), INSTANCE
    )
    first = host.run()
    cancel = first.only("cancel_run")  # the run may still be going at the service
    assert RunHandle.from_json(cancel.input) == HANDLE
    teardown = host.complete(cancel, pending()).run().only("teardown_run")
    assert RunHandle.from_json(teardown.input) == HANDLE
    final = host.complete(teardown, teardown_done()).run()

    assert final.error is not None
    assert "schema_version" in final.error and "newer deploy" in final.error
    assert "Traceback" not in final.error
    assert Progress.from_json(final.custom_status).phase is Phase.DONE
    assert_ended_after_one_teardown(host, final)


def test_an_unreadable_plan_still_tears_down_what_the_instance_created() -> None:
    plan = make_plan(backend=Backend.ASSISTANTS).to_json()
    del plan["question"]  # a field this code needs, which an input lacks
    host = OrchestrationHost(orchestrator_entry(), plan, INSTANCE)
    teardown = host.run().only("teardown_run")
    handle = RunHandle.from_json(teardown.input)
    assert (handle.backend, handle.instance_id) == (Backend.ASSISTANTS, INSTANCE)
    final = host.complete(teardown, teardown_done()).run()

    assert final.error is not None and "question" in final.error
    assert_ended_after_one_teardown(host, final)


def test_a_carried_state_with_fields_this_code_does_not_know_goes_on() -> None:
    state = carried_state(conversation={"turns": 3})
    state["handle"] |= {"vector_store_id": "vs_1"}
    host = OrchestrationHost(orchestrator_entry(), state, INSTANCE)
    (timer,) = host.run().timers()
    poll = host.fire(timer).run().only("poll_run")
    assert RunHandle.from_json(poll.input) == HANDLE
    teardown = host.complete(poll, completed("42")).run().only("teardown_run")
    final = host.complete(teardown, teardown_done()).run()
    assert final.error is None
    assert RunResult.from_json(final.output).answer == "42"


def test_the_instances_orchestration_version_is_in_its_status_and_result() -> None:
    host = new_host()
    host.version = "1.0"
    first = host.run()
    assert Progress.from_json(first.custom_status).version == "1.0"
    start = first.only("start_run")
    teardown = host.advance(1).complete(start, completed("42")).run().only("teardown_run")
    final = host.complete(teardown, teardown_done()).run()
    result = RunResult.from_json(final.output)
    assert result.version == "1.0"
    assert result.finished_at - result.started_at == timedelta(seconds=1)


def test_an_instance_started_without_a_version_reports_none() -> None:
    host = new_host()
    assert Progress.from_json(host.run().custom_status).version is None
