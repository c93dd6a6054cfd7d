"""The seed scenario end to end, unchanged app-style code, through both APIs."""

from __future__ import annotations

from typing import Any

from openai import AzureOpenAI, OpenAI

from emulator.testing import RunningEmulator
from tests.support.emulator_sdk import (
    ASSISTANT_TOOLS,
    CAT_BORN,
    FLIGHTS,
    QUESTION,
    RESPONSE_TOOLS,
    run_tool,
)


def test_seed_flow_through_assistants(azure: AzureOpenAI, emu: RunningEmulator) -> None:
    beta = azure.beta
    assistant = beta.assistants.create(
        model="gpt-4o", instructions="Use the functions.", tools=ASSISTANT_TOOLS
    )
    thread = beta.threads.create()
    message = beta.threads.messages.create(thread.id, role="user", content=QUESTION)
    run = beta.threads.runs.create(thread_id=thread.id, assistant_id=assistant.id)
    assert run.status == "queued"
    called: list[tuple[str, str]] = []
    while run.status not in ("completed", "failed", "cancelled", "expired", "incomplete"):
        run = beta.threads.runs.retrieve(run.id, thread_id=thread.id)
        if run.status == "requires_action":
            assert run.required_action is not None
            calls = run.required_action.submit_tool_outputs.tool_calls
            called += [(c.function.name, c.function.arguments) for c in calls]
            outputs: list[Any] = [
                {"tool_call_id": c.id, "output": run_tool(c.function.name, c.function.arguments)}
                for c in calls
            ]
            run = beta.threads.runs.submit_tool_outputs(
                run.id, thread_id=thread.id, tool_outputs=outputs
            )
    assert run.status == "completed"
    assert run.usage is not None
    assert run.usage.total_tokens > 0
    assert [name for name, _ in called] == ["my_cat_born_date", "get_flights"]
    assert '"cat_name": "Mike"' in called[0][1]
    assert CAT_BORN in called[1][1]
    assert "2021-04-04" in called[1][1]

    answer = beta.threads.messages.list(thread.id).data[0].content[0]
    assert answer.type == "text"
    assert str(FLIGHTS) in answer.text.value

    beta.threads.messages.delete(message.id, thread_id=thread.id)
    beta.threads.delete(thread.id)
    beta.assistants.delete(assistant.id)
    beta.assistants.create(model="gpt-4o", name="left behind")
    for leftover in beta.assistants.list():
        beta.assistants.delete(leftover.id)
    assert list(beta.assistants.list()) == []
    assert set(emu.counts()["live"].values()) == {0}


def test_seed_flow_through_responses(v1: OpenAI, emu: RunningEmulator) -> None:
    response = v1.responses.create(
        model="gpt-4o", instructions="Use the functions.", input=QUESTION, tools=RESPONSE_TOOLS
    )
    created = [response.id]
    names: list[str] = []
    while calls := [item for item in response.output if item.type == "function_call"]:
        names += [call.name for call in calls]
        outputs: list[Any] = [
            {
                "type": "function_call_output",
                "call_id": call.call_id,
                "output": run_tool(call.name, call.arguments),
            }
            for call in calls
        ]
        response = v1.responses.create(
            model="gpt-4o",
            instructions="Use the functions.",
            previous_response_id=response.id,
            input=outputs,
            tools=RESPONSE_TOOLS,
        )
        created.append(response.id)
    assert response.status == "completed"
    assert names == ["my_cat_born_date", "get_flights"]
    assert str(FLIGHTS) in response.output_text
    assert response.usage is not None
    assert response.usage.total_tokens > 0

    for response_id in created:
        v1.responses.delete(response_id)
    assert set(emu.counts()["live"].values()) == {0}


def test_seed_flow_with_the_sdk_poll_helpers(azure: AzureOpenAI) -> None:
    beta = azure.beta
    assistant = beta.assistants.create(model="gpt-4o", tools=ASSISTANT_TOOLS)
    thread = beta.threads.create(messages=[{"role": "user", "content": QUESTION}])

    run = beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id)
    while run.status == "requires_action":
        assert run.required_action is not None
        outputs: list[Any] = [
            {"tool_call_id": c.id, "output": run_tool(c.function.name, c.function.arguments)}
            for c in run.required_action.submit_tool_outputs.tool_calls
        ]
        run = beta.threads.runs.submit_tool_outputs_and_poll(
            run_id=run.id, thread_id=thread.id, tool_outputs=outputs
        )

    assert run.status == "completed"
    messages = beta.threads.messages.list(thread.id, run_id=run.id)
    assert str(FLIGHTS) in messages.data[0].content[0].text.value  # type: ignore[union-attr]
