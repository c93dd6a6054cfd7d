"""Assistants, threads and messages: shapes, metadata, pagination, deletion, 404s."""

from __future__ import annotations

import openai
import pytest
from openai import AzureOpenAI
from openai.types.beta import Assistant, AssistantDeleted, Thread, ThreadDeleted
from openai.types.beta.threads import Message, MessageDeleted

from emulator.testing import RunningEmulator
from tests.support.emulator_sdk import ASSISTANT_TOOLS, strict


def test_assistant_create_retrieve_update_delete(azure: AzureOpenAI) -> None:
    assistants = azure.beta.assistants
    raw = assistants.with_raw_response.create(
        model="gpt-4o",
        name="seed",
        instructions="Use the functions.",
        tools=ASSISTANT_TOOLS,
        metadata={"app": "durable-assistant", "instance": "i-1"},
    )
    strict(Assistant, raw.http_response.json())
    created = raw.parse()
    assert created.id.startswith("asst_")
    assert created.metadata == {"app": "durable-assistant", "instance": "i-1"}
    assert [t.function.name for t in created.tools if t.type == "function"] == [
        "my_cat_born_date",
        "get_flights",
    ]

    fetched = assistants.retrieve(created.id)
    assert fetched == created
    updated = assistants.update(created.id, name="renamed", metadata={"app": "other"})
    assert (updated.name, updated.metadata) == ("renamed", {"app": "other"})
    assert updated.instructions == "Use the functions."

    raw_deleted = assistants.with_raw_response.delete(created.id)
    strict(AssistantDeleted, raw_deleted.http_response.json())
    assert raw_deleted.parse().deleted is True
    with pytest.raises(openai.NotFoundError) as caught:
        assistants.retrieve(created.id)
    assert caught.value.body == {
        "message": f"No assistant found with id '{created.id}'.",
        "type": "invalid_request_error",
        "param": None,
        "code": None,
    }
    with pytest.raises(openai.NotFoundError):
        assistants.delete(created.id)


def test_assistant_needs_a_model(azure: AzureOpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        azure.beta.assistants.create(model=None)  # type: ignore[arg-type]
    assert "'model'" in caught.value.message


def test_metadata_limits_are_enforced(azure: AzureOpenAI) -> None:
    too_many = {f"k{i}": "v" for i in range(17)}
    with pytest.raises(openai.BadRequestError) as caught:
        azure.beta.threads.create(metadata=too_many)
    assert caught.value.code == "object_above_max_properties"


def test_assistant_pagination(azure: AzureOpenAI) -> None:
    ids = [azure.beta.assistants.create(model="m", name=str(i)).id for i in range(5)]

    first = azure.beta.assistants.list(limit=2)
    assert [a.id for a in first.data] == [ids[4], ids[3]]  # newest first by default
    assert first.has_more is True
    body = azure.beta.assistants.with_raw_response.list(limit=2).http_response.json()
    assert (body["object"], body["first_id"], body["last_id"]) == ("list", ids[4], ids[3])
    assert [a.id for a in azure.beta.assistants.list(limit=2)] == ids[::-1]  # auto-paging

    asc = azure.beta.assistants.list(limit=2, order="asc", after=ids[1])
    assert [a.id for a in asc.data] == [ids[2], ids[3]]
    assert asc.has_more is True
    last = azure.beta.assistants.list(limit=10, order="asc", after=ids[3])
    assert ([a.id for a in last.data], last.has_more) == ([ids[4]], False)
    before = azure.beta.assistants.list(limit=2, order="asc", before=ids[4])
    assert ([a.id for a in before.data], before.has_more) == ([ids[2], ids[3]], True)

    with pytest.raises(openai.BadRequestError):
        azure.beta.assistants.list(limit=101)
    with pytest.raises(openai.BadRequestError):
        azure.beta.assistants.list(order="sideways")  # type: ignore[arg-type]


def test_thread_and_messages(azure: AzureOpenAI, emu: RunningEmulator) -> None:
    threads = azure.beta.threads
    raw = threads.with_raw_response.create(
        messages=[{"role": "user", "content": "first"}], metadata={"who": "me"}
    )
    strict(Thread, raw.http_response.json())
    thread = raw.parse()
    assert thread.metadata == {"who": "me"}
    assert threads.retrieve(thread.id).metadata == {"who": "me"}
    assert threads.update(thread.id, metadata={"who": "you"}).metadata == {"who": "you"}

    raw_message = threads.messages.with_raw_response.create(
        thread.id,
        role="user",
        content=[{"type": "text", "text": "second"}],
        metadata={"n": "2"},
    )
    strict(Message, raw_message.http_response.json())
    second = raw_message.parse()
    third = threads.messages.create(thread.id, role="assistant", content="third")

    listed = threads.messages.list(thread.id)
    for body in threads.messages.with_raw_response.list(thread.id).http_response.json()["data"]:
        strict(Message, body)
    texts = [m.content[0].text.value for m in listed.data]  # type: ignore[union-attr]
    assert texts == ["third", "second", "first"]
    asc = threads.messages.list(thread.id, order="asc", limit=1)
    assert asc.data[0].content[0].text.value == "first"  # type: ignore[union-attr]
    assert asc.has_more is True
    assert threads.messages.retrieve(second.id, thread_id=thread.id).metadata == {"n": "2"}
    updated = threads.messages.update(second.id, thread_id=thread.id, metadata={"n": "two"})
    assert updated.metadata == {"n": "two"}

    raw_deleted = threads.messages.with_raw_response.delete(third.id, thread_id=thread.id)
    strict(MessageDeleted, raw_deleted.http_response.json())
    assert len(threads.messages.list(thread.id).data) == 2
    with pytest.raises(openai.NotFoundError):
        threads.messages.retrieve(third.id, thread_id=thread.id)
    assert emu.counts()["live"]["messages"] == 2

    raw_thread_deleted = threads.with_raw_response.delete(thread.id)
    strict(ThreadDeleted, raw_thread_deleted.http_response.json())
    assert emu.counts()["live"]["messages"] == 0
    with pytest.raises(openai.NotFoundError) as caught:
        threads.retrieve(thread.id)
    assert caught.value.message.endswith(f"No thread found with id '{thread.id}'.")
    with pytest.raises(openai.NotFoundError):
        threads.messages.list(thread.id)
    with pytest.raises(openai.NotFoundError):
        threads.messages.create(thread.id, role="user", content="late")


def test_message_role_is_checked(azure: AzureOpenAI) -> None:
    thread = azure.beta.threads.create()
    with pytest.raises(openai.BadRequestError) as caught:
        azure.beta.threads.messages.create(thread.id, role="system", content="x")  # type: ignore[arg-type]
    assert caught.value.code == "invalid_value"
