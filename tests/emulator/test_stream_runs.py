"""Assistants runs with `stream: true`, read through the SDK's own stream helpers."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx2
import openai
import pytest
from openai import AssistantEventHandler, AzureOpenAI
from openai.types.beta import AssistantStreamEvent
from openai.types.beta.threads import Run
from pydantic import TypeAdapter

from emulator.testing import RunningEmulator
from tests.support.emulator_sdk import ASSISTANT_TOOLS, FLIGHTS, QUESTION, run_tool


def _setup(azure: AzureOpenAI, question: str = QUESTION) -> tuple[str, str]:
    assistant = azure.beta.assistants.create(model="gpt-4o", tools=ASSISTANT_TOOLS)
    thread = azure.beta.threads.create(messages=[{"role": "user", "content": question}])
    return assistant.id, thread.id


def _outputs(run: Run) -> list[Any]:
    assert run.required_action is not None
    return [
        {"tool_call_id": c.id, "output": run_tool(c.function.name, c.function.arguments)}
        for c in run.required_action.submit_tool_outputs.tool_calls
    ]


class _Timed(AssistantEventHandler):
    """Notes when each text delta arrived."""

    def __init__(self) -> None:
        super().__init__()
        self.delta_times: list[float] = []

    def on_text_delta(self, delta: Any, snapshot: Any) -> None:
        self.delta_times.append(time.monotonic())


def test_the_seed_question_streams_to_the_end_with_the_sdk_helpers(azure: AzureOpenAI) -> None:
    assistant_id, thread_id = _setup(azure)
    runs = azure.beta.threads.runs
    with runs.stream(thread_id=thread_id, assistant_id=assistant_id) as stream:
        names = [event.event for event in stream]
        run = stream.get_final_run()
    assert names[:3] == ["thread.run.created", "thread.run.queued", "thread.run.in_progress"]
    assert names[-1] == "thread.run.requires_action"
    assert "thread.run.step.delta" in names
    steps = stream.get_final_run_steps()
    assert run.status == "requires_action"
    assert run.required_action is not None
    calls = run.required_action.submit_tool_outputs.tool_calls
    # The step the events built is the step the service keeps, with the same call.
    assert steps[0].step_details.type == "tool_calls"
    kept = azure.beta.threads.runs.steps.list(run.id, thread_id=thread_id).data
    assert [s.id for s in kept] == [steps[0].id]
    assert steps[0].step_details.tool_calls[0].id == calls[0].id

    for _ in range(2):
        with runs.submit_tool_outputs_stream(
            run_id=run.id, thread_id=thread_id, tool_outputs=_outputs(run)
        ) as stream:
            stream.until_done()
            run = stream.get_final_run()
    assert run.status == "completed"
    final = stream.get_final_messages()
    text = "".join(p.text.value for m in final for p in m.content if p.type == "text")
    assert str(FLIGHTS) in text
    listed = azure.beta.threads.messages.list(thread_id, run_id=run.id).data
    assert [m.id for m in listed] == [m.id for m in stream.get_final_messages()]
    assert listed[0].content == stream.get_final_messages()[0].content


def test_text_deltas_are_spread_over_the_model_time(
    azure: AzureOpenAI, emu: RunningEmulator
) -> None:
    emu.configure(latency_ms="600")
    assistant_id, thread_id = _setup(azure, "Tell me something.")
    handler = _Timed()
    begun = time.monotonic()
    with azure.beta.threads.runs.stream(
        thread_id=thread_id, assistant_id=assistant_id, event_handler=handler
    ) as stream:
        stream.until_done()
    ended = time.monotonic()
    assert stream.get_final_run().status == "completed"
    assert len(handler.delta_times) > 1
    # The first delta came well before the turn's end, the rest followed over it.
    assert handler.delta_times[0] - begun < ended - begun - 0.2
    assert handler.delta_times[-1] - handler.delta_times[0] > 0.2


def test_create_and_run_with_stream_announces_the_thread_first(azure: AzureOpenAI) -> None:
    assistant = azure.beta.assistants.create(model="gpt-4o", tools=ASSISTANT_TOOLS)
    stream = azure.beta.threads.create_and_run(
        assistant_id=assistant.id,
        thread={"messages": [{"role": "user", "content": QUESTION}]},
        stream=True,
    )
    events: list[AssistantStreamEvent] = list(stream)
    assert [e.event for e in events[:2]] == ["thread.created", "thread.run.created"]
    assert events[-1].event == "thread.run.requires_action"


def test_a_run_goes_on_after_its_reader_stops_reading(
    azure: AzureOpenAI, emu: RunningEmulator
) -> None:
    emu.configure(latency_ms="300")
    assistant_id, thread_id = _setup(azure, "Tell me something.")
    stream = azure.beta.threads.runs.create(
        thread_id=thread_id, assistant_id=assistant_id, stream=True
    )
    first = next(iter(stream))
    stream.close()
    assert first.event == "thread.run.created"
    run = azure.beta.threads.runs.poll(first.data.id, thread_id=thread_id, poll_interval_ms=20)
    assert run.status == "completed"


def test_a_cancel_ends_the_stream_as_cancelled(azure: AzureOpenAI, emu: RunningEmulator) -> None:
    emu.configure(latency_ms="2000")
    assistant_id, thread_id = _setup(azure, "Tell me something.")
    names: list[str] = []
    with azure.beta.threads.runs.stream(thread_id=thread_id, assistant_id=assistant_id) as stream:
        for event in stream:
            names.append(event.event)
            if event.event == "thread.run.in_progress":
                azure.beta.threads.runs.cancel(event.data.id, thread_id=thread_id)
    assert names[-2:] == ["thread.run.cancelling", "thread.run.cancelled"]
    assert stream.get_final_run().status == "cancelled"


def test_a_stream_can_drop_midway(azure: AzureOpenAI, emu: RunningEmulator) -> None:
    emu.configure(faults=[{"fault": "drop_midway", "route": "POST /threads/{thread_id}/runs"}])
    assistant_id, thread_id = _setup(azure, "Tell me something.")
    names: list[str] = []
    with (
        pytest.raises((httpx2.RemoteProtocolError, openai.APIConnectionError)),
        azure.beta.threads.runs.stream(thread_id=thread_id, assistant_id=assistant_id) as stream,
    ):
        names.extend(event.event for event in stream)
    assert names[0] == "thread.run.created"
    assert "thread.message.delta" in names  # it broke halfway through the text
    assert "thread.run.completed" not in names
    run_id = azure.beta.threads.runs.list(thread_id).data[0].id
    run = azure.beta.threads.runs.poll(run_id, thread_id=thread_id, poll_interval_ms=20)
    assert run.status == "completed"  # the run itself went on


def test_event_bodies_are_the_sdk_types_strictly(azure: AzureOpenAI) -> None:
    assistant_id, thread_id = _setup(azure, "Tell me something.")
    raw = azure.beta.threads.runs.with_raw_response.create(
        thread_id=thread_id, assistant_id=assistant_id, stream=True
    )
    adapter: Any = TypeAdapter(AssistantStreamEvent)
    name = ""
    frames: list[str] = []
    for line in raw.http_response.iter_lines():
        if line.startswith("event: "):
            name = line[len("event: ") :]
        elif line.startswith("data: "):
            frames.append(name)
            if name != "done":
                adapter.validate_python({"event": name, "data": json.loads(line[6:])}, strict=True)
    assert frames[-1] == "done"
    assert "thread.message.completed" in frames
