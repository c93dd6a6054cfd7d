"""Strictness the service applies to parameters and inputs: bounds, structured outputs,
image and file parts, and where a script stands when a client trims its history."""

from __future__ import annotations

import json
from typing import Any

import openai
import pytest
from openai import AzureOpenAI, OpenAI

from emulator.testing import RunningEmulator
from tests.support.emulator_sdk import QUESTION, RESPONSE_TOOLS, retrieve, run_tool, start

LONG = "Tell me everything about my cat Mike."
PERSON: dict[str, Any] = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
    "required": ["name", "age"],
    "additionalProperties": False,
}


@pytest.mark.parametrize("name", ["max_completion_tokens", "max_prompt_tokens"])
def test_run_token_limits_have_the_spec_minimum(azure: AzureOpenAI, name: str) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        start(azure, **{name: 255})  # type: ignore[arg-type]
    assert caught.value.code == "integer_below_min_value"
    assert caught.value.param == name
    assert "Expected a value >= 256, but got 255 instead." in caught.value.message


def test_a_long_answer_outgrows_max_completion_tokens(azure: AzureOpenAI) -> None:
    _, _, run = start(azure, LONG, max_completion_tokens=256)
    ended = retrieve(azure, run)
    assert ended.status == "incomplete"
    assert ended.incomplete_details is not None
    assert ended.incomplete_details.reason == "max_completion_tokens"
    _, _, enough = start(azure, LONG, max_completion_tokens=1_000)
    assert retrieve(azure, enough).status == "completed"


def test_response_and_sampling_bounds(v1: OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        v1.responses.create(model="m", input="hi", max_output_tokens=15)
    assert caught.value.param == "max_output_tokens"
    with pytest.raises(openai.BadRequestError) as caught:
        v1.responses.create(model="m", input="hi", temperature=2.5)
    assert caught.value.code == "decimal_above_max_value"
    short = v1.responses.create(model="m", input=LONG, max_output_tokens=16)
    assert short.status == "incomplete"
    assert short.incomplete_details is not None
    assert short.incomplete_details.reason == "max_output_tokens"


def test_a_strict_schema_must_close_its_objects(v1: OpenAI) -> None:
    loose = {**PERSON, "additionalProperties": True}
    with pytest.raises(openai.BadRequestError) as caught:
        v1.responses.create(
            model="m",
            input="hi",
            text={
                "format": {"type": "json_schema", "name": "person", "schema": loose, "strict": True}
            },
        )
    assert caught.value.code == "invalid_json_schema"
    assert (
        "'additionalProperties' is required to be supplied and to be false" in caught.value.message
    )


def test_structured_output_is_honoured(v1: OpenAI, tmp_path: Any) -> None:
    fmt: Any = {"type": "json_schema", "name": "person", "schema": PERSON, "strict": True}
    # the fallback answer is not JSON: a script that cannot honour the format fails loudly
    failed = v1.responses.create(model="m", input="who?", text={"format": fmt})
    assert failed.status == "failed"
    assert failed.error is not None
    assert "does not match the json_schema 'person'" in failed.error.message


def test_a_scripted_json_answer_is_served_when_it_validates(
    emu: RunningEmulator, v1: OpenAI, azure: AzureOpenAI
) -> None:
    emu.state.book.add_data(
        {
            "scripts": [
                {
                    "name": "person",
                    "match": "who is",
                    "turns": [{"answer": '{"name": "Mike", "age": 10}'}],
                }
            ]
        }
    )
    fmt: Any = {"type": "json_schema", "name": "person", "schema": PERSON, "strict": True}
    answer = v1.responses.create(model="m", input="who is he?", text={"format": fmt})
    assert json.loads(answer.output_text) == {"name": "Mike", "age": 10}
    chat = v1.chat.completions.create(
        model="m",
        messages=[{"role": "user", "content": "who is he?"}],
        response_format={
            "type": "json_schema",
            "json_schema": {"name": "person", "schema": PERSON, "strict": True},
        },
    )
    assert json.loads(chat.choices[0].message.content or "") == {"name": "Mike", "age": 10}
    older = {
        **PERSON,
        "required": ["name", "age", "born"],
        "properties": {**PERSON["properties"], "born": {"type": "string"}},
    }
    _, _, run = start(
        azure,
        "who is he?",
        response_format={
            "type": "json_schema",
            "json_schema": {"name": "person", "schema": older, "strict": True},
        },
    )
    ended = retrieve(azure, run)
    assert ended.status == "failed"
    assert ended.last_error is not None
    assert "'born' is a required property" in ended.last_error.message


def test_image_and_file_parts_are_accepted(v1: OpenAI) -> None:
    response = v1.responses.create(
        model="m",
        input=[
            {
                "role": "user",
                "content": [
                    {"type": "input_text", "text": QUESTION},
                    {
                        "type": "input_image",
                        "image_url": "data:image/png;base64,iVBORw0KGgo=",
                        "detail": "low",
                    },
                    {
                        "type": "input_file",
                        "filename": "notes.txt",
                        "file_data": "data:text/plain;base64,aGk=",
                    },
                ],
            }
        ],
        tools=RESPONSE_TOOLS,
    )
    assert response.output[0].type == "function_call"  # the text still picks the script
    items = v1.responses.input_items.list(response.id).data
    assert [p.type for p in items[0].content] == ["input_text", "input_image", "input_file"]  # type: ignore[union-attr]
    with pytest.raises(openai.BadRequestError) as caught:
        bad: Any = [{"role": "user", "content": [{"type": "input_image"}]}]
        v1.responses.create(model="m", input=bad)
    assert "image_url" in caught.value.message
    chat = v1.chat.completions.create(
        model="m",
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "hello"},
                    {"type": "image_url", "image_url": {"url": "https://example.invalid/cat.png"}},
                ],
            }
        ],
    )
    assert chat.choices[0].finish_reason == "stop"


def test_a_script_keeps_its_place_when_the_client_trims_its_history(v1: OpenAI) -> None:
    first = v1.responses.create(model="m", input=QUESTION, tools=RESPONSE_TOOLS)
    call = next(i for i in first.output if i.type == "function_call")
    output = {
        "type": "function_call_output",
        "call_id": call.call_id,
        "output": run_tool(call.name, call.arguments),
    }
    # the client resends only the tool output: the question and the call were trimmed
    second = v1.responses.create(model="m", input=[output], tools=RESPONSE_TOOLS)  # type: ignore[list-item]
    calls = [i for i in second.output if i.type == "function_call"]
    assert [c.name for c in calls] == ["get_flights"]  # the script's second turn, not its first
