"""What a run costs the event log in Table requests, counted by the bench's proxy in
front of Azurite: the real orchestrator (through the replay executor) schedules the
activities, and each is run for real, its model calls answered by a script."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

import activities
from bench.table_proxy import TableProxy, counting_tables
from durable_assistant import service
from durable_assistant.backends import TextHook
from durable_assistant.composition import services
from durable_assistant.events import EVENTS_KEY, EventType
from durable_assistant.model import (
    RunHandle,
    RunState,
    RunStatus,
    StartInput,
    Step,
    SubmitInput,
    TeardownReport,
    ToolCall,
)
from tests.orchestration.history import OrchestrationHost, Scheduled
from tests.orchestration.runs import HANDLE, INSTANCE, call, new_host, usage

ANSWER = "Your cat is 10 years old and there were 2172 days between the flights."
SEED_STEPS = [
    [call("c1", "my_cat_born_date", cat_name="Mike")],
    [call("c2", "get_flights", date_1="2015-04-24", date_2="2021-04-04")],
]
"""The seed: two steps of one tool call each, then the answer (three model turns)."""


class Script:
    """The model's side of the run: each turn asks for the next step's calls, the
    last writes the answer (as one piece of text, then the end of the turn)."""

    def __init__(self, steps: list[list[ToolCall]]) -> None:
        self.turns = [*steps, None]

    def turn(self, handle: RunHandle, on_text: TextHook | None) -> Step:
        calls = self.turns.pop(0)
        if calls is None:
            if on_text is not None:
                on_text(ANSWER)
            state = RunState(status=RunStatus.COMPLETED, answer=ANSWER, usage=usage(10))
        else:
            state = RunState(status=RunStatus.REQUIRES_ACTION, tool_calls=calls, usage=usage(10))
        return Step(handle=handle, state=state)


@pytest.fixture
def counted(
    app_env: pytest.MonkeyPatch, azurite: str, table_name: str
) -> Iterator[tuple[TableProxy, Script]]:
    """App settings naming Azurite through the counting proxy, with this test's own
    events table, and the model's calls answered by the seed's script."""
    script = Script(SEED_STEPS)
    with counting_tables(azurite) as (proxy, connection_string):
        app_env.setenv("AzureWebJobsStorage", connection_string)
        app_env.setenv("EVENTS_TABLE_NAME", table_name)

        def start(start: StartInput, on_text: TextHook | None = None) -> Step:
            return script.turn(start.handle or HANDLE, on_text)

        def submit(submit: SubmitInput, on_text: TextHook | None = None) -> Step:
            return script.turn(submit.handle, on_text)

        app_env.setattr(service, "start_run", start)
        app_env.setattr(service, "submit_outputs", submit)
        app_env.setattr(service, "teardown_run", lambda _: TeardownReport(deleted=["resp-1"]))
        yield proxy, script


ACTIVITIES: dict[str, Callable[[dict[str, Any]], Any]] = {
    "start_run": activities.start_run,
    "run_tool": activities.run_tool,
    "submit_tool_outputs": activities.submit_tool_outputs,
    "teardown_run": activities.teardown_run,
}


def run_for_real(host: OrchestrationHost, table: str, proxy: TableProxy) -> list[tuple[str, int]]:
    """Play the run to its end, each scheduled activity run for real (with the event
    slot the orchestrator handed it); the Table requests each made to `table`."""
    spent: list[tuple[str, int]] = []
    episode = host.run()
    while not episode.done:
        scheduled: list[Scheduled] = episode.activities()
        assert scheduled, f"the run waits on something else: {episode.names()}"
        for activity in scheduled:
            before = proxy.by_table[table]
            payload = {**activity.input, EVENTS_KEY: activity.events}
            output = ACTIVITIES[activity.name](payload)
            spent.append((activity.name, proxy.by_table[table] - before))
            host.complete(activity, output)
        episode = host.run()
    return spent


def test_a_seed_run_writes_no_event_request_per_tool_call(
    counted: tuple[TableProxy, Script], table_name: str
) -> None:
    proxy, _ = counted
    services().run_events.store.read(INSTANCE, 0, 1)  # the table exists before counting

    spent = run_for_real(new_host(), table_name, proxy)

    steps = len(SEED_STEPS)
    assert [name for name, _ in spent] == [
        "start_run",
        *["run_tool", "submit_tool_outputs"] * steps,
        "teardown_run",
    ]
    tools = [requests for name, requests in spent if name == "run_tool"]
    assert tools == [0] * sum(len(calls) for calls in SEED_STEPS)  # written by the model call
    start, *submits, end = [r for name, r in spent if name != "run_tool"]
    # The start: the orchestrator's events as the call begins (with the run's row,
    # for the purge), and its own at the end — usage, with the next step's tool calls.
    assert start == 2
    # A submit: the finished tool calls and its phase as it begins, then its own; the
    # last one's text as it comes first (one piece: one write).
    assert submits == [2] * (steps - 1) + [3]
    assert end == 1  # the end, with the phase change to tearing down
    log = services().run_events.store.read(INSTANCE, 0, 1000)
    tool_events = [(e.data["status"], e.data["name"]) for e in log if e.type is EventType.TOOL_CALL]
    assert tool_events == [
        (status, call.name)
        for calls in SEED_STEPS
        for call in calls
        for status in ("started", "finished")
    ]
