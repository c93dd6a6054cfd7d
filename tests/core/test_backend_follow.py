"""Both backends following their model turns' streams (emulator, real SDK, real HTTP)."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from durable_assistant.backends import Follow
from durable_assistant.backends.responses import function_tool as responses_tool
from durable_assistant.model import Backend, RunHandle, RunStatus, Step, SubmitInput
from durable_assistant.objects import ObjectKind
from durable_assistant.tools import default_registry
from durable_assistant.tools.builtin import SEED_QUESTION
from emulator.testing import RunningEmulator
from tests.support.backends import (
    DEPLOYMENT,
    SEED_TOOLS,
    Harness,
    emulator_settings,
    make_harness,
)

FOLLOW = 10.0
POLLS = {"GET /threads/{thread_id}/runs/{run_id}", "GET /responses/{response_id}"}


def _requests(harness: Harness) -> dict[str, int]:
    counts: dict[str, int] = harness.emulator.counts()["requests"]
    return counts


def _polls(harness: Harness) -> int:
    return sum(n for route, n in _requests(harness).items() if route in POLLS)


def _model_turns(harness: Harness) -> int:
    """Runs started plus outputs submitted (Assistants), or responses created."""
    counts = _requests(harness)
    if harness.kind is Backend.ASSISTANTS:
        return counts.get("POST /threads/{thread_id}/runs", 0) + counts.get(
            "POST /threads/{thread_id}/runs/{run_id}/submit_tool_outputs", 0
        )
    return counts.get("POST /responses", 0)


def _play_followed(harness: Harness, follow: Follow) -> Step:
    step = harness.backend.start(harness.start_input(), follow)
    while step.state.status is RunStatus.REQUIRES_ACTION:
        results = harness.run_tools(step)
        step = harness.backend.submit(SubmitInput(handle=step.handle, results=results), follow)
    return step


def test_a_followed_run_needs_no_poll_and_streams_its_answer(harness: Harness) -> None:
    harness.emulator.configure(latency_ms="100")
    pieces: list[str] = []
    step = _play_followed(harness, Follow(seconds=FOLLOW, on_text=pieces.append))
    assert step.state.status is RunStatus.COMPLETED
    assert step.state.answer is not None and "flights" in step.state.answer
    assert len(pieces) > 1
    assert "".join(pieces) == step.state.answer
    assert step.state.usage is not None and step.state.usage.total_tokens > 0
    assert _polls(harness) == 0  # no polling, and no read of the response being answered
    assert "GET /threads/{thread_id}/messages" not in _requests(harness)
    assert _model_turns(harness) == 3
    harness.backend.teardown(step.handle)
    assert set(harness.live().values()) == {0}


def test_a_failing_text_hook_does_not_fail_the_run(harness: Harness) -> None:
    def broken(piece: str) -> None:
        raise RuntimeError("the event log is down")

    step = _play_followed(harness, Follow(seconds=FOLLOW, on_text=broken))
    assert step.state.status is RunStatus.COMPLETED


def test_a_turn_longer_than_the_budget_is_let_go_and_polled(harness: Harness) -> None:
    harness.emulator.configure(latency_ms="1500")
    step = harness.backend.start(harness.start_input(), Follow(seconds=0.2))
    assert step.state.status is RunStatus.PENDING
    assert step.handle.run_id or step.handle.response_id
    # the turn goes on at the service: polling finds it asking for the tool
    step = harness.settle(step)
    assert step.state.status is RunStatus.REQUIRES_ACTION
    assert step.state.tool_calls[0].name == "my_cat_born_date"
    assert _model_turns(harness) == 1
    live = harness.live()
    assert live["runs"] + live["responses"] == 1


@pytest.mark.parametrize("turn", ["start", "submit"])
def test_a_dropped_stream_falls_back_to_a_poll_without_a_second_turn(
    harness: Harness, turn: str
) -> None:
    route = {
        (Backend.ASSISTANTS, "start"): "POST /threads/{thread_id}/runs",
        (Backend.ASSISTANTS, "submit"): (
            "POST /threads/{thread_id}/runs/{run_id}/submit_tool_outputs"
        ),
        (Backend.RESPONSES, "start"): "POST /responses",
        (Backend.RESPONSES, "submit"): "POST /responses",
    }[(harness.kind, turn)]
    follow = Follow(seconds=FOLLOW)
    if turn == "start":
        harness.emulator.configure(faults=[{"fault": "drop_midway", "route": route}])
        step = harness.backend.start(harness.start_input(), follow)
    else:
        step = harness.backend.start(harness.start_input(), follow)
        assert step.state.status is RunStatus.REQUIRES_ACTION
        harness.emulator.configure(faults=[{"fault": "drop_midway", "route": route}])
        results = harness.run_tools(step)
        step = harness.backend.submit(SubmitInput(handle=step.handle, results=results), follow)
    turns = _model_turns(harness)
    assert _polls(harness) >= 1  # it fell back to a poll
    step = harness.settle(step)
    assert step.state.status is RunStatus.REQUIRES_ACTION
    assert _model_turns(harness) == turns  # and started no second turn
    step = _finish(harness, step, follow)
    assert step.state.status is RunStatus.COMPLETED


def _finish(harness: Harness, step: Step, follow: Follow) -> Step:
    while step.state.status is RunStatus.REQUIRES_ACTION:
        results = harness.run_tools(step)
        step = harness.settle(
            harness.backend.submit(SubmitInput(handle=step.handle, results=results), follow)
        )
    return step


def test_a_cancel_while_a_turn_is_followed_ends_the_follow(harness: Harness) -> None:
    harness.emulator.configure(latency_ms="5000")
    got: dict[str, Any] = {}

    def follow_the_turn() -> None:
        got["step"] = harness.backend.start(harness.start_input("Tell me a story."), Follow(20))
        got["at"] = time.monotonic()

    follower = threading.Thread(target=follow_the_turn)
    follower.start()
    handle = _wait_for_handle(harness)
    cancelled_at = time.monotonic()
    harness.backend.cancel(handle)
    follower.join(timeout=30)
    step: Step = got["step"]
    assert step.state.status is RunStatus.CANCELLED
    assert got["at"] - cancelled_at < 4.0  # it did not wait for the turn's end


def _wait_for_handle(harness: Harness) -> RunHandle:
    """The handle of the run being followed, once the service made it."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        objects = harness.recorder.objects_of(harness.instance_id)
        if harness.kind is Backend.RESPONSES:
            # A text turn's response is recorded at the end of the run (by teardown),
            # so it is found at the service.
            for response_id in list(harness.emulator.state.responses):
                return RunHandle(
                    backend=harness.kind,
                    instance_id=harness.instance_id,
                    response_id=response_id,
                    response_ids=[response_id],
                )
        else:
            threads = [o.object_id for o in objects if o.kind is ObjectKind.THREAD]
            if threads:
                runs = harness.clients.assistants.beta.threads.runs.list(threads[0]).data
                if runs:
                    return RunHandle(
                        backend=harness.kind,
                        instance_id=harness.instance_id,
                        thread_id=threads[0],
                        run_id=runs[0].id,
                    )
        time.sleep(0.02)
    raise AssertionError("the followed run never appeared")


def test_a_submit_for_a_response_made_elsewhere_reads_its_settings_back(
    emulator: RunningEmulator,
) -> None:
    """Another process created the response: its model, instructions and tools are read."""
    harness = make_harness(Backend.RESPONSES, emulator, emulator_settings(emulator.url))
    client = harness.clients.responses
    tools = [responses_tool(d) for d in default_registry.definitions(SEED_TOOLS)]
    first = client.responses.create(
        model=DEPLOYMENT, instructions="Answer briefly.", input=SEED_QUESTION, tools=tools
    )
    handle = RunHandle(
        backend=Backend.RESPONSES,
        instance_id=harness.instance_id,
        response_id=first.id,
        response_ids=[first.id],
    )
    step = Step(handle=handle, state=harness.backend.poll(handle).state)
    results = harness.run_tools(step)
    step = harness.backend.submit(SubmitInput(handle=handle, results=results), Follow(FOLLOW))
    assert step.state.status is RunStatus.REQUIRES_ACTION
    assert step.state.tool_calls[0].name == "get_flights"
    second = client.responses.retrieve(step.handle.response_ids[-1])
    assert second.instructions == "Answer briefly."
    assert {t.name for t in second.tools if t.type == "function"} == set(SEED_TOOLS)
    assert "GET /responses/{response_id}" in _requests(harness)
