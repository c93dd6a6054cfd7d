"""A model call that asks for tools writes their `started` events itself, where the
tool calls would: the orchestrator (through the real replay executor) tells it where
they go, tells each tool call its first events are written, and closes the calls of
a run that ends before running them."""

from __future__ import annotations

from typing import Any

from durable_assistant.events import (
    EventSlot,
    EventType,
    announced_events,
    finished_again,
    phase_event,
    sequence_number,
    tool_started,
)
from durable_assistant.model import Phase, Step, ToolCall, ToolResult
from durable_assistant.run_loop import CANCEL_EVENT
from tests.orchestration.history import OrchestrationHost, Scheduled
from tests.orchestration.runs import call, completed, new_host, requires, tool_result

CALLS = [
    call("c1", "my_cat_born_date", cat_name="Mike"),
    call("c2", "get_flights", date_1="2016-03-01", date_2="2021-04-04"),
]


def slot_of(activity: Scheduled) -> EventSlot:
    assert activity.events is not None, f"{activity.name} was handed no event slot"
    return EventSlot.from_json(activity.events)


def announced(*calls: ToolCall) -> dict[str, Any]:
    """A model call's step that asks for `calls` and wrote their `started` events."""
    return Step.from_json(requires(*calls)).model_copy(update={"tools_announced": True}).to_json()


def start(host: OrchestrationHost) -> Scheduled:
    return host.run().only("start_run")


def test_a_model_call_is_told_where_its_tool_calls_go_and_they_where_their_events_are() -> None:
    host = new_host()
    started = start(host)
    ahead = slot_of(started).ahead
    assert ahead is not None
    assert ahead.slot == slot_of(started).slot + 1
    assert ahead.record == [phase_event(Phase.RUNNING_TOOLS, 1)]

    tools = host.complete(started, announced(*CALLS)).run().activities("run_tool")

    slots = [slot_of(tool) for tool in tools]
    assert [s.slot for s in slots] == [ahead.slot, ahead.slot + 1]
    # The first events of each tool call's slot, as the model call wrote them.
    written = announced_events(ahead, CALLS)
    for tool_slot, tool_call in zip(slots, CALLS, strict=True):
        assert tool_slot.written == len(tool_slot.record) + 1
        head = [e for e in written if e.seq // 10_000 - 1 == tool_slot.slot]
        started_event = tool_started(
            tool_call, tool_slot.step, index=tool_slot.call, calls=tool_slot.calls
        )
        assert [(e.type, e.data) for e in head] == [
            *((e.type, e.data) for e in tool_slot.record),
            (started_event.type, started_event.data),
        ]
        assert [e.seq for e in head] == [
            sequence_number(tool_slot.slot, i) for i in range(tool_slot.written)
        ]


def test_tool_calls_of_a_model_call_that_wrote_nothing_write_their_own() -> None:
    host = new_host()
    tools = host.complete(start(host), requires(*CALLS)).run().activities("run_tool")
    assert [slot_of(tool).written for tool in tools] == [0, 0]


def test_a_run_cancelled_before_its_announced_tools_ran_closes_each_of_them() -> None:
    host = new_host()
    started = start(host)
    ahead = slot_of(started).ahead
    assert ahead is not None
    host.raise_event(CANCEL_EVENT, {"reason": "stop"})

    ending = host.complete(started, announced(*CALLS)).run()

    assert ending.activities("run_tool") == []
    cancel = ending.only("cancel_run")
    cancel_slot = slot_of(cancel)
    assert cancel_slot.slot == ahead.slot + len(CALLS)  # past the announced slots
    closed = cancel_slot.rewrite
    assert [e.seq for e in closed] == [
        e.seq + 1 for e in announced_events(ahead, CALLS) if e.type is EventType.TOOL_CALL
    ]
    assert [(e.data["status"], e.data["ok"], e.data["call_id"]) for e in closed] == [
        ("finished", False, "c1"),
        ("finished", False, "c2"),
    ]
    assert all(e.data["output"].startswith("error: not run") for e in closed)


def test_no_tool_call_is_announced_past_the_last_step() -> None:
    host = new_host(max_steps=1)
    started = start(host)
    tools = host.complete(started, announced(CALLS[0])).run().activities("run_tool")
    (tool,) = tools
    submit = host.complete(tool, tool_result(tool, {"cat_born_date": "2016-03-01"}))
    submitted = submit.run().only("submit_tool_outputs")
    assert slot_of(submitted).ahead is None  # a second step would end the run
    host.complete(submitted, completed("done"))


def test_the_finished_event_of_an_announced_call_follows_its_started_event() -> None:
    host = new_host()
    tools = host.complete(start(host), announced(*CALLS)).run().activities("run_tool")
    for tool in tools:
        tool_slot = slot_of(tool)
        again = finished_again(tool_slot, ToolResult.from_json(tool_result(tool, "ok")))
        assert again.seq == sequence_number(tool_slot.slot, tool_slot.written)
