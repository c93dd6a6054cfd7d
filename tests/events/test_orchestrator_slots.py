"""What the orchestrator hands its activities to record, through the real replay executor:
one slot per scheduled activity, numbered in the run's order, the same on every replay
and across `continue_as_new`; each phase change once; the end with teardown."""

from __future__ import annotations

from typing import Any

from durable_assistant.events import (
    MAX_RUN_SLOTS,
    EventCursor,
    EventSlot,
    phase_event,
    sequence_number,
)
from durable_assistant.model import Phase
from tests.orchestration.history import OrchestrationHost, Scheduled
from tests.orchestration.runs import (
    call,
    completed,
    new_host,
    pending,
    requires,
    teardown_done,
    tool_result,
)


def recorded(slot: Scheduled) -> list[tuple[str, Any]]:
    """The (type, phase or outcome) of the events `slot`'s activity must record."""
    assert slot.events is not None, f"{slot.name} was handed no event slot"
    return [
        (e["type"], e["data"].get("phase") or e["data"].get("outcome"))
        for e in EventSlot.from_json(slot.events).to_json()["record"]
    ]


def slot_number(slot: Scheduled) -> int:
    assert slot.events is not None
    return EventSlot.from_json(slot.events).slot


def test_a_seed_run_hands_out_ordered_slots_and_each_phase_change_once() -> None:
    host = new_host()
    start = host.run().only("start_run")
    waiting = host.complete(start, pending()).run()
    (timer,) = waiting.timers()
    poll = host.fire(timer).run().only("poll_run")
    waiting = host.complete(poll, pending()).run()
    (timer,) = waiting.timers()
    poll_again = host.fire(timer).run().only("poll_run")
    cat = call("c1", "my_cat_born_date", cat_name="Mike")
    flights = call("c2", "get_flights", date_1="2016-03-01", date_2="2021-04-04")
    tools = host.complete(poll_again, requires(cat, flights)).run()
    run_cat, run_flights = tools.activities("run_tool")
    host.complete(run_cat, tool_result(run_cat, {"cat_born_date": "2016-03-01"}))
    submit = host.complete(run_flights, tool_result(run_flights, {"flights": 1}))
    submit_slot = submit.run().only("submit_tool_outputs")
    teardown = host.complete(submit_slot, completed("1 flight")).run().only("teardown_run")
    host.complete(teardown, teardown_done()).run()

    order = [start, poll, poll_again, run_cat, run_flights, submit_slot, teardown]
    assert [recorded(s) for s in order] == [
        [("phase", "starting")],
        [("phase", "waiting_for_model")],
        [],  # still waiting: no change to record
        [("phase", "running_tools")],
        [],
        [("phase", "submitting")],
        [("phase", "tearing_down"), ("end", "completed")],
    ]
    numbers = [slot_number(s) for s in order]
    assert numbers == sorted(numbers) and len(set(numbers)) == len(numbers)
    end = EventSlot.from_json(teardown.events).record[-1]
    assert end.data["answer"] == "1 flight" and end.data["tool_calls"] == 2
    assert EventSlot.from_json(run_cat.events).step == 1


def test_slots_keep_growing_across_continue_as_new() -> None:
    host: OrchestrationHost = new_host(history_event_limit=20)
    start = host.run().only("start_run")
    episode = host.complete(start, pending()).run()
    seen: list[int] = [slot_number(start)]
    while host.executions == 1:
        (timer,) = episode.timers()
        poll = host.fire(timer).run().only("poll_run")
        seen.append(slot_number(poll))
        episode = host.complete(poll, pending()).run()
    # The next execution starts numbering where the last one stopped.
    while not episode.timers():
        episode = host.run()
    (timer,) = episode.timers()
    poll = host.fire(timer).run().only("poll_run")
    assert slot_number(poll) > max(seen)


def test_past_the_runs_slot_budget_only_the_end_is_recorded() -> None:
    cursor = EventCursor(next_slot=MAX_RUN_SLOTS).with_phase(Phase.SUBMITTING, 3)
    slot, cursor = cursor.take(3)
    assert slot is None and cursor.pending == []
    cursor = cursor.with_event(phase_event(Phase.TEARING_DOWN, 3))
    slot, _ = cursor.take(3, always=True)
    assert slot is not None and slot.slot == MAX_RUN_SLOTS + 1 and len(slot.record) == 1


def test_done_and_repeated_phases_are_not_recorded() -> None:
    cursor = EventCursor().with_phase(Phase.WAITING_FOR_MODEL, 0)
    cursor = cursor.with_phase(Phase.WAITING_FOR_MODEL, 0).with_phase(Phase.DONE, 0)
    assert [e.data["phase"] for e in cursor.pending] == ["waiting_for_model"]


def test_the_activity_after_a_step_writes_each_calls_finished_event_again() -> None:
    host = new_host()
    start = host.run().only("start_run")
    cat = call("c1", "my_cat_born_date", cat_name="Mike")
    flights = call("c2", "get_flights", date_1="2016-03-01", date_2="2021-04-04")
    run_cat, run_flights = host.complete(start, requires(cat, flights)).run().activities("run_tool")
    host.complete(run_cat, tool_result(run_cat, {"cat_born_date": "2016-03-01"}))
    submit = host.complete(run_flights, tool_result(run_flights, {"flights": 1}))
    submit_slot = EventSlot.from_json(submit.run().only("submit_tool_outputs").events)

    cat_slot, flights_slot = (EventSlot.from_json(s.events) for s in (run_cat, run_flights))
    assert [(cat_slot.call, cat_slot.calls), (flights_slot.call, flights_slot.calls)] == [
        (0, 2),
        (1, 2),
    ]
    again = submit_slot.rewrite
    assert [e.seq for e in again] == [
        sequence_number(cat_slot.slot, 2),  # after the phase change and its `started`
        sequence_number(flights_slot.slot, 1),  # after its `started`
    ]
    assert [(e.data["status"], e.data["call_id"], e.data["index"]) for e in again] == [
        ("finished", "c1", 0),
        ("finished", "c2", 1),
    ]
    assert again[0].data["output"] == '{"cat_born_date": "2016-03-01"}'
