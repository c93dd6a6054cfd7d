"""The Responses API: chains of function calls, background life cycle, rules, conversations."""

from __future__ import annotations

import time
from typing import Any

import openai
import pytest
from openai import AzureOpenAI, OpenAI
from openai.types.conversations import Conversation, ConversationDeletedResource
from openai.types.responses import Response

from emulator.testing import RunningEmulator
from tests.support.emulator_sdk import (
    EMULATOR_KEY,
    FLIGHTS,
    QUESTION,
    RESPONSE_TOOLS,
    TWO_CATS,
    outputs_for,
    strict,
)


def follow(v1: OpenAI, response: Response, **options: Any) -> Response:
    """The next response of the chain, answering every call of `response`."""
    next_response: Response = v1.responses.create(
        model="gpt-4o",
        previous_response_id=response.id,
        input=outputs_for(response),
        tools=RESPONSE_TOOLS,
        **options,
    )
    return next_response


def test_foreground_response_shapes(v1: OpenAI) -> None:
    raw = v1.responses.with_raw_response.create(
        model="gpt-4o", input=QUESTION, tools=RESPONSE_TOOLS, metadata={"app": "x"}
    )
    strict(Response, raw.http_response.json())
    response = raw.parse()
    assert response.status == "completed"
    assert response.metadata == {"app": "x"}
    assert response.background is False
    [call] = response.output
    assert call.type == "function_call"
    assert (call.name, call.arguments) == ("my_cat_born_date", '{"cat_name": "Mike"}')
    assert call.call_id.startswith("call_")
    assert response.output_text == ""
    assert raw.headers["openai-poll-after-ms"] == "5"

    fetched = v1.responses.with_raw_response.retrieve(response.id)
    strict(Response, fetched.http_response.json())
    assert fetched.parse().id == response.id


def test_a_chain_resent_in_full_without_previous_response_id(v1: OpenAI) -> None:
    """A client that keeps its own history (store=false) gets the same play."""
    history: list[Any] = [{"role": "user", "content": QUESTION}]
    while True:
        response = v1.responses.create(
            model="gpt-4o", input=history, tools=RESPONSE_TOOLS, store=False
        )
        calls = [item for item in response.output if item.type == "function_call"]
        if not calls:
            break
        history += [
            {
                "type": "function_call",
                "call_id": c.call_id,
                "name": c.name,
                "arguments": c.arguments,
            }
            for c in calls
        ]
        history += outputs_for(response)
    assert str(FLIGHTS) in response.output_text
    with pytest.raises(openai.NotFoundError):
        v1.responses.retrieve(response.id)  # not stored


def test_parallel_function_calls(v1: OpenAI) -> None:
    response = v1.responses.create(model="gpt-4o", input=TWO_CATS, tools=RESPONSE_TOOLS)
    assert [item.type for item in response.output] == ["function_call", "function_call"]
    final = follow(v1, response)
    assert final.output_text == "Mike was born on 2015-04-24 and Tom on 2019-01-01."

    single = v1.responses.create(
        model="gpt-4o", input=TWO_CATS, tools=RESPONSE_TOOLS, parallel_tool_calls=False
    )
    assert len(single.output) == 1
    second = follow(v1, single, parallel_tool_calls=False)
    assert [i.type for i in second.output] == ["function_call"]
    assert follow(v1, second).output_text == final.output_text


def test_without_the_tool_the_model_says_so(v1: OpenAI) -> None:
    response = v1.responses.create(model="gpt-4o", input=QUESTION)
    assert "not available" in response.output_text


def test_function_call_outputs_must_match_the_calls(v1: OpenAI) -> None:
    first = v1.responses.create(model="gpt-4o", input=TWO_CATS, tools=RESPONSE_TOOLS)
    outputs = outputs_for(first)

    with pytest.raises(openai.BadRequestError) as missing:
        v1.responses.create(model="gpt-4o", previous_response_id=first.id, input=outputs[:1])
    assert missing.value.message.endswith(
        f"No tool output found for function call {outputs[1]['call_id']}."
    )
    stray = [*outputs, {"type": "function_call_output", "call_id": "call_nope", "output": "1"}]
    with pytest.raises(openai.BadRequestError) as unknown:
        v1.responses.create(model="gpt-4o", previous_response_id=first.id, input=stray)
    assert unknown.value.message.endswith(
        "No tool call found for function call output with call_id call_nope."
    )


def test_previous_response_must_exist(v1: OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        v1.responses.create(model="gpt-4o", previous_response_id="resp_nope", input="hi")
    assert caught.value.code == "previous_response_not_found"
    assert caught.value.param == "previous_response_id"


def test_background_life_cycle(v1: OpenAI, emu: RunningEmulator) -> None:
    emu.configure(latency_ms=300)
    created = v1.responses.create(
        model="gpt-4o", input=QUESTION, tools=RESPONSE_TOOLS, background=True
    )
    assert created.status == "queued"
    assert created.background is True
    assert v1.responses.retrieve(created.id).status == "in_progress"
    with pytest.raises(openai.BadRequestError):
        follow(v1, created)  # still running: nothing to answer yet
    time.sleep(0.35)
    done = v1.responses.retrieve(created.id)
    assert done.status == "completed"
    assert done.output[0].type == "function_call"


def test_background_cancel(v1: OpenAI, emu: RunningEmulator) -> None:
    emu.configure(latency_ms=5000)
    created = v1.responses.create(model="gpt-4o", input=QUESTION, background=True)
    cancelled = v1.responses.cancel(created.id)
    assert cancelled.status == "cancelled"
    assert v1.responses.retrieve(created.id).status == "cancelled"
    assert v1.responses.cancel(created.id).status == "cancelled"  # idempotent

    emu.configure(latency_ms=0)
    foreground = v1.responses.create(model="gpt-4o", input="hi")
    with pytest.raises(openai.BadRequestError):
        v1.responses.cancel(foreground.id)


def test_background_needs_store(v1: OpenAI) -> None:
    with pytest.raises(openai.BadRequestError):
        v1.responses.create(model="gpt-4o", input="hi", background=True, store=False)


@pytest.mark.parametrize(
    ("outcome", "status"),
    [("failed", "failed"), ("rate_limited", "failed"), ("incomplete", "incomplete")],
)
def test_forced_outcomes(v1: OpenAI, emu: RunningEmulator, outcome: str, status: str) -> None:
    emu.configure(outcomes=[{"outcome": outcome, "count": 1}])
    ended = v1.responses.retrieve(
        v1.responses.create(model="gpt-4o", input=QUESTION, background=True).id
    )
    assert ended.status == status
    assert (ended.error is not None) == (status == "failed")
    assert (ended.incomplete_details is not None) == (status == "incomplete")
    assert v1.responses.create(model="gpt-4o", input=QUESTION).status == "completed"


def test_delete_and_input_items(v1: OpenAI, emu: RunningEmulator) -> None:
    response = v1.responses.create(model="gpt-4o", input=QUESTION, tools=RESPONSE_TOOLS)
    [item] = v1.responses.input_items.list(response.id).data
    assert item.type == "message"
    assert emu.counts()["live"]["responses"] == 1
    v1.responses.delete(response.id)
    assert emu.counts()["live"]["responses"] == 0
    with pytest.raises(openai.NotFoundError):
        v1.responses.retrieve(response.id)
    with pytest.raises(openai.NotFoundError):
        v1.responses.delete(response.id)
    with pytest.raises(openai.BadRequestError):
        v1.responses.create(model="gpt-4o", previous_response_id=response.id, input="more")


def test_the_azure_client_reaches_responses_in_a_version_that_has_them(
    emu: RunningEmulator,
) -> None:
    azure = AzureOpenAI(
        azure_endpoint=emu.url, api_key=EMULATOR_KEY, api_version="2025-04-01-preview"
    )
    response = azure.responses.create(model="gpt-4o", input="hi")
    assert response.status == "completed"
    assert emu.counts()["requests"]["POST /responses"] == 1


def test_conversations(v1: OpenAI, emu: RunningEmulator) -> None:
    raw = v1.conversations.with_raw_response.create(metadata={"topic": "cats"})
    strict(Conversation, raw.http_response.json())
    conversation = raw.parse()
    assert v1.conversations.retrieve(conversation.id).metadata == {"topic": "cats"}
    updated = v1.conversations.update(conversation.id, metadata={"topic": "dogs"})
    assert updated.metadata == {"topic": "dogs"}

    first = v1.responses.create(
        model="gpt-4o", input=QUESTION, tools=RESPONSE_TOOLS, conversation=conversation.id
    )
    assert first.conversation is not None
    second = v1.responses.create(
        model="gpt-4o",
        input=outputs_for(first),
        tools=RESPONSE_TOOLS,
        conversation=conversation.id,
    )
    assert second.output[0].type == "function_call"
    items = v1.conversations.items.list(conversation.id, order="asc")
    assert [i.type for i in items.data] == [
        "message",
        "function_call",
        "function_call_output",
        "function_call",
    ]
    first_item = items.data[0].id
    assert first_item is not None
    v1.conversations.items.delete(first_item, conversation_id=conversation.id)
    assert len(v1.conversations.items.list(conversation.id).data) == 3

    deleted = v1.conversations.with_raw_response.delete(conversation.id)
    strict(ConversationDeletedResource, deleted.http_response.json())
    with pytest.raises(openai.NotFoundError):
        v1.conversations.retrieve(conversation.id)
    assert emu.counts()["live"]["conversations"] == 0
    with pytest.raises(openai.BadRequestError):
        v1.responses.create(
            model="gpt-4o",
            input="x",
            conversation=conversation.id,
            previous_response_id=first.id,
        )
