"""The activities write the run's events into Table storage (Azurite), once, however
often they are retried: a failure injected after an activity's write makes the host
run it again with the same input, as Durable Functions' retry options do."""

from __future__ import annotations

import json
from typing import Any

import pytest

import activities
from durable_assistant import event_log, service
from durable_assistant.composition import services
from durable_assistant.event_log import text_of
from durable_assistant.events import (
    EVENTS_KEY,
    EventSlot,
    StoredEvent,
    end_event,
    finished_again,
    phase_event,
)
from durable_assistant.model import (
    Backend,
    Outcome,
    Phase,
    RunHandle,
    RunResult,
    RunState,
    RunStatus,
    StartInput,
    Step,
    ToolCall,
    ToolInvocation,
    ToolResult,
    Usage,
)
from tests.events.held_store import HeldStore
from tests.orchestration.runs import make_plan
from tests.support.waiting import wait_until

INSTANCE = "events-activity-run"


@pytest.fixture
def storage(app_env: pytest.MonkeyPatch, azurite: str, table_name: str) -> pytest.MonkeyPatch:
    """App settings naming Azurite, with this test's own events table."""
    app_env.setenv("AzureWebJobsStorage", azurite)
    app_env.setenv("EVENTS_TABLE_NAME", table_name)
    return app_env


def events_of(instance_id: str = INSTANCE) -> list[StoredEvent]:
    return services().run_events.store.read(instance_id, after=0, limit=1000)


def with_slot(payload: dict[str, Any], slot: EventSlot) -> dict[str, Any]:
    return {**payload, EVENTS_KEY: slot.to_json()}


def tool_payload(slot: EventSlot) -> dict[str, Any]:
    call = ToolCall(
        call_id="call_1",
        name="get_flights",
        arguments=json.dumps({"date_1": "2015-04-24", "date_2": "2021-04-04"}),
    )
    invocation = ToolInvocation(instance_id=INSTANCE, call=call, allowed_tools=["get_flights"])
    return with_slot(invocation.to_json(), slot)


def test_a_tool_call_is_recorded_as_it_starts_and_as_it_ends(storage: pytest.MonkeyPatch) -> None:
    slot = EventSlot(slot=5, step=2, record=[phase_event(Phase.RUNNING_TOOLS, 2)])
    output = activities.run_tool(tool_payload(slot))
    assert output["output"] == '{"flights": 2172}'

    # The finished event is written as the activity returns, not before.
    wait_until(lambda: len(events_of()) == 3, timeout=10, what="the finished event")
    events = events_of()
    assert [(e.type.value, e.data.get("status")) for e in events] == [
        ("phase", None),
        ("tool_call", "started"),
        ("tool_call", "finished"),
    ]
    started, finished = events[1].data, events[2].data
    assert started["name"] == "get_flights" and "2015-04-24" in started["arguments"]
    assert (finished["ok"], finished["output"], finished["step"]) == (True, '{"flights": 2172}', 2)


def held_store(storage: pytest.MonkeyPatch, *, fail_first: bool = False) -> HeldStore:
    log = services().run_events
    held = HeldStore(log.store, fail_first=fail_first)
    storage.setattr(log, "store", held)
    return held


def test_a_tool_runs_while_its_started_event_is_being_written(
    storage: pytest.MonkeyPatch,
) -> None:
    held = held_store(storage)
    real_run_tool = service.run_tool

    def releases_the_write(invocation: ToolInvocation) -> Any:
        held.release.set()  # only a tool that runs before the write ends can do this
        return real_run_tool(invocation)

    storage.setattr(service, "run_tool", releases_the_write)
    activities.run_tool(tool_payload(EventSlot(slot=5, step=2)))

    wait_until(lambda: len(events_of()) == 2, timeout=10, what="the finished event")
    assert [e.data.get("status") for e in events_of()] == ["started", "finished"]


def test_a_started_event_that_could_not_be_written_is_written_with_the_finished_one(
    storage: pytest.MonkeyPatch,
) -> None:
    held_store(storage, fail_first=True)
    activities.run_tool(tool_payload(EventSlot(slot=5, step=2)))

    events = events_of()
    assert [e.data.get("status") for e in events] == ["started", "finished"]
    assert events[0].seq < events[1].seq


def test_a_model_call_starts_while_the_orchestrators_events_are_being_written(
    storage: pytest.MonkeyPatch,
) -> None:
    held = held_store(storage)
    handle = RunHandle(backend=Backend.RESPONSES, instance_id=INSTANCE, response_id="resp_1")
    usage = Usage(prompt_tokens=3, completion_tokens=2, total_tokens=5)

    def poll_releasing_the_write(h: RunHandle) -> Step:
        held.release.set()  # only a call made before the write ends can do this
        return Step(handle=h, state=RunState(status=RunStatus.COMPLETED, answer="ok", usage=usage))

    storage.setattr(service, "poll_run", poll_releasing_the_write)
    slot = EventSlot(slot=7, record=[phase_event(Phase.WAITING_FOR_MODEL, 0)])
    activities.poll_run(with_slot(handle.to_json(), slot))

    assert [e.type.value for e in events_of()] == ["phase", "usage"]


def test_a_steps_only_call_leaves_its_finished_event_to_the_next_activity(
    storage: pytest.MonkeyPatch,
) -> None:
    slot = EventSlot(slot=5, step=1, call=0, calls=1)
    result = ToolResult.from_json(activities.run_tool(tool_payload(slot)))
    assert [e.data.get("status") for e in events_of()] == ["started"]

    submit = EventSlot(slot=6, step=1, rewrite=[finished_again(slot, result)])
    activities.record_run_events({"instance_id": INSTANCE, EVENTS_KEY: submit.to_json()})

    events = events_of()
    assert [e.data.get("status") for e in events] == ["started", "finished"]
    assert events[1].seq == events[0].seq + 1 and events[1].data["output"] == result.output


def test_a_model_calls_last_text_and_its_usage_go_in_one_write(
    storage: pytest.MonkeyPatch,
) -> None:
    held = held_store(storage)
    held.release.set()
    storage.setattr(event_log, "TEXT_INTERVAL_SECONDS", 60.0)  # however slow the writes
    handle = RunHandle(backend=Backend.RESPONSES, instance_id=INSTANCE)
    usage = Usage(prompt_tokens=3, completion_tokens=2, total_tokens=5)

    def start_writing(start: StartInput, on_text: Any) -> Step:
        for piece in ["There ", "are ", "2172 days."]:  # the first at once, the rest buffered
            on_text(piece)
        return Step(handle=handle, state=RunState(status=RunStatus.COMPLETED, usage=usage))

    storage.setattr(service, "start_run", start_writing)
    start = StartInput(instance_id=INSTANCE, plan=make_plan())
    slot = EventSlot(slot=0, record=[phase_event(Phase.STARTING, 0)])
    activities.start_run(with_slot(start.to_json(), slot))

    assert held.writes == [["starting"], [None], [None, None]]  # phase, text, text + usage
    assert [e.type.value for e in events_of()] == ["phase", "text", "text", "usage"]
    assert "".join(text_of(events_of())) == "There are 2172 days."


def test_a_tool_activity_retried_after_its_write_records_each_event_once(
    storage: pytest.MonkeyPatch,
) -> None:
    slot = EventSlot(slot=5, step=1, record=[phase_event(Phase.RUNNING_TOOLS, 1)])
    real_run_tool = service.run_tool
    attempts = 0

    def fails_first(invocation: ToolInvocation) -> Any:
        nonlocal attempts
        attempts += 1
        if attempts == 1:
            raise ConnectionError("the worker went away after the started event")
        return real_run_tool(invocation)

    storage.setattr(service, "run_tool", fails_first)
    with pytest.raises(ConnectionError):
        activities.run_tool(tool_payload(slot))
    assert [e.data.get("status") for e in events_of()] == [None, "started"]

    activities.run_tool(tool_payload(slot))  # the retry: the same input

    wait_until(lambda: len(events_of()) == 3, timeout=10, what="the finished event")
    assert [e.data.get("status") for e in events_of()] == [None, "started", "finished"]


def test_teardown_records_the_end_before_it_deletes_and_once_when_retried(
    storage: pytest.MonkeyPatch,
) -> None:
    result = RunResult(
        outcome=Outcome.COMPLETED,
        answer="There are 2172 days.",
        backend=Backend.RESPONSES,
        started_at="2026-01-01T00:00:00+00:00",
        finished_at="2026-01-01T00:00:01+00:00",
    )
    slot = EventSlot(slot=9, record=[phase_event(Phase.TEARING_DOWN, 0), end_event(result)])
    handle = RunHandle(backend=Backend.RESPONSES, instance_id=INSTANCE)
    seen_at_teardown: list[list[str]] = []
    real_teardown = service.teardown_run

    def teardown_failing_once(h: RunHandle) -> Any:
        seen_at_teardown.append([e.type.value for e in events_of()])
        if len(seen_at_teardown) == 1:
            raise TimeoutError("the model service timed out")
        return real_teardown(h)

    storage.setattr(service, "teardown_run", teardown_failing_once)
    with pytest.raises(TimeoutError):
        activities.teardown_run(with_slot(handle.to_json(), slot))
    activities.teardown_run(with_slot(handle.to_json(), slot))

    assert seen_at_teardown == [["phase", "end"], ["phase", "end"]]
    events = events_of()
    assert [e.type.value for e in events] == ["phase", "end"]
    assert events[-1].data["answer"] == "There are 2172 days."


def test_the_fallback_activity_writes_the_same_rows_again(storage: pytest.MonkeyPatch) -> None:
    slot = EventSlot(slot=3, record=[phase_event(Phase.TEARING_DOWN, 0)])
    payload = with_slot({"instance_id": INSTANCE}, slot)
    activities.record_run_events(dict(payload))
    activities.record_run_events(dict(payload))
    assert len(events_of()) == 1
    with pytest.raises(ValueError, match="instance_id"):
        activities.record_run_events(with_slot({}, slot))


def test_an_activity_without_a_slot_writes_nothing(storage: pytest.MonkeyPatch) -> None:
    payload = tool_payload(EventSlot(slot=0))
    payload.pop(EVENTS_KEY)
    activities.run_tool(payload)
    assert events_of() == []
    assert list(text_of(events_of())) == []
