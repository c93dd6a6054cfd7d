"""Responses with `stream: true` (with and without background) and resumed streams."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx2
import openai
import pytest
from openai import OpenAI
from openai.types.responses import ResponseStreamEvent

from emulator.testing import RunningEmulator
from tests.support.emulator_sdk import FLIGHTS, QUESTION, RESPONSE_TOOLS, outputs_for


def test_the_seed_question_streams_through_the_stream_helper(v1: OpenAI) -> None:
    with v1.responses.stream(model="gpt-4o", input=QUESTION, tools=RESPONSE_TOOLS) as stream:
        events = list(stream)
        response = stream.get_final_response()
    types = [e.type for e in events]
    assert types[:2] == ["response.created", "response.in_progress"]
    assert types[-1] == "response.completed"
    assert "response.function_call_arguments.delta" in types
    assert [e.sequence_number for e in events] == list(range(len(events)))
    for _ in range(2):
        with v1.responses.stream(
            model="gpt-4o",
            input=outputs_for(response),
            previous_response_id=response.id,
            tools=RESPONSE_TOOLS,
        ) as stream:
            stream.until_done()
            response = stream.get_final_response()
    assert str(FLIGHTS) in response.output_text
    # The stream's final response is the stored one.
    stored = v1.responses.retrieve(response.id)
    assert [i.model_dump()["id"] for i in stored.output] == [
        i.model_dump()["id"] for i in response.output
    ]
    assert stored.output_text == response.output_text


def test_text_deltas_arrive_before_the_turn_ends(v1: OpenAI, emu: RunningEmulator) -> None:
    emu.configure(latency_ms="600")
    begun = time.monotonic()
    times: list[float] = []
    stream = v1.responses.create(model="gpt-4o", input="Tell me something.", stream=True)
    for event in stream:
        if event.type == "response.output_text.delta":
            times.append(time.monotonic())
    ended = time.monotonic()
    assert len(times) > 1
    assert times[0] - begun < ended - begun - 0.2
    assert times[-1] - times[0] > 0.2


def test_a_background_stream_resumes_after_any_sequence_number(
    v1: OpenAI, emu: RunningEmulator
) -> None:
    emu.configure(latency_ms="400")
    stream = v1.responses.create(
        model="gpt-4o", input="Tell me something.", stream=True, background=True
    )
    seen: list[ResponseStreamEvent] = []
    for event in stream:
        seen.append(event)
        if event.type == "response.output_text.delta":
            break
    stream.close()  # a background response goes on without its reader
    assert seen[0].type == "response.created"
    response_id = seen[0].response.id
    assert seen[0].response.background is True
    rest = list(
        v1.responses.retrieve(response_id, stream=True, starting_after=seen[-1].sequence_number)
    )
    numbers = [e.sequence_number for e in [*seen, *rest]]
    assert numbers == list(range(len(numbers)))
    assert rest[-1].type == "response.completed"
    text = "".join(e.delta for e in [*seen, *rest] if e.type == "response.output_text.delta")
    assert text == v1.responses.retrieve(response_id).output_text
    again = list(v1.responses.retrieve(response_id, stream=True, starting_after=-1))
    assert [e.type for e in again] == [e.type for e in [*seen, *rest]]


def test_closing_a_foreground_stream_stops_its_generation(v1: OpenAI, emu: RunningEmulator) -> None:
    emu.configure(latency_ms="400")
    stream = v1.responses.create(model="gpt-4o", input="Tell me something.", stream=True)
    first = next(iter(stream))
    stream.close()
    assert first.type == "response.created"
    deadline = time.monotonic() + 5
    while v1.responses.retrieve(first.response.id).status == "in_progress":
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert v1.responses.retrieve(first.response.id).status == "cancelled"
    with pytest.raises(openai.BadRequestError):
        list(v1.responses.retrieve(first.response.id, stream=True))


def test_a_stream_can_drop_midway_and_the_response_goes_on(
    v1: OpenAI, emu: RunningEmulator
) -> None:
    emu.configure(faults=[{"fault": "drop_midway", "route": "POST /responses"}])
    seen: list[ResponseStreamEvent] = []
    stream = v1.responses.create(
        model="gpt-4o", input="Tell me something.", stream=True, background=True
    )
    with pytest.raises((httpx2.RemoteProtocolError, openai.APIConnectionError)):
        seen.extend(stream)
    assert seen[0].type == "response.created"
    assert "response.completed" not in [e.type for e in seen]
    rest = list(
        v1.responses.retrieve(
            seen[0].response.id, stream=True, starting_after=seen[-1].sequence_number
        )
    )
    assert rest[-1].type == "response.completed"


def test_event_bodies_are_the_sdk_types_strictly(v1: OpenAI) -> None:
    raw = v1.responses.with_raw_response.create(
        model="gpt-4o", input="Tell me something.", stream=True
    )
    adapter: Any = __import__("pydantic").TypeAdapter(ResponseStreamEvent)
    frames = [
        json.loads(line[len("data: ") :])
        for line in raw.http_response.iter_lines()
        if line.startswith("data: ")
    ]
    assert frames
    for body in frames:
        adapter.validate_python(body, strict=True)
