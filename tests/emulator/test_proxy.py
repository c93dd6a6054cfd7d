"""Chat completions (scripted), and the proxy model that plays turns with an upstream endpoint."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from openai import AzureOpenAI, OpenAI
from openai.types.chat import ChatCompletion

from emulator.proxy import ProxySettings
from emulator.testing import RunningEmulator, running_emulator
from tests.support.emulator_sdk import (
    API_VERSION,
    ASSISTANT_TOOLS,
    EMULATOR_KEY,
    FLIGHTS,
    QUESTION,
    RESPONSE_TOOLS,
    run_tool,
    strict,
)


def test_chat_completions_play_the_script_on_the_deployment_route(
    emu: RunningEmulator,
) -> None:
    client = AzureOpenAI(
        azure_endpoint=emu.url,
        api_key=EMULATOR_KEY,
        api_version=API_VERSION,
        azure_deployment="gpt",
    )
    messages: list[Any] = [{"role": "user", "content": QUESTION}]
    for _ in range(3):
        raw = client.chat.completions.with_raw_response.create(
            model="gpt", messages=messages, tools=ASSISTANT_TOOLS
        )
        strict(ChatCompletion, raw.http_response.json())
        message = raw.parse().choices[0].message
        if not message.tool_calls:
            break
        messages.append(message.model_dump(exclude_none=True))
        messages += [
            {
                "role": "tool",
                "tool_call_id": call.id,
                "content": run_tool(call.function.name, call.function.arguments),
            }
            for call in message.tool_calls
            if call.type == "function"
        ]
    assert message.content is not None
    assert str(FLIGHTS) in message.content
    assert emu.counts()["requests"]["POST /chat/completions"] == 3


def test_assistants_and_responses_through_a_proxy_model(emu: RunningEmulator) -> None:
    upstream = ProxySettings(url=emu.url + "/openai/v1", api_key=EMULATOR_KEY)
    with running_emulator(proxy=upstream, poll_after_ms=2) as front:
        azure = AzureOpenAI(azure_endpoint=front.url, api_key="x", api_version=API_VERSION)
        assistant = azure.beta.assistants.create(model="gpt", tools=ASSISTANT_TOOLS)
        thread = azure.beta.threads.create(messages=[{"role": "user", "content": QUESTION}])
        run = azure.beta.threads.runs.create_and_poll(
            thread_id=thread.id, assistant_id=assistant.id
        )
        while run.status == "requires_action":
            assert run.required_action is not None
            outputs: list[Any] = [
                {"tool_call_id": c.id, "output": run_tool(c.function.name, c.function.arguments)}
                for c in run.required_action.submit_tool_outputs.tool_calls
            ]
            run = azure.beta.threads.runs.submit_tool_outputs_and_poll(
                run_id=run.id, thread_id=thread.id, tool_outputs=outputs
            )
        assert run.status == "completed"
        text = azure.beta.threads.messages.list(thread.id).data[0].content[0].text.value  # type: ignore[union-attr]
        assert str(FLIGHTS) in text
        assert emu.counts()["requests"]["POST /chat/completions"] == 3

        v1 = OpenAI(base_url=front.url + "/openai/v1/", api_key="x")
        response = v1.responses.create(model="gpt", input=QUESTION, tools=RESPONSE_TOOLS)
        assert response.output[0].type == "function_call"
        background = v1.responses.create(
            model="gpt", input=QUESTION, tools=RESPONSE_TOOLS, background=True
        )
        deadline = time.monotonic() + 5
        while background.status in ("queued", "in_progress") and time.monotonic() < deadline:
            time.sleep(0.01)
            background = v1.responses.retrieve(background.id)
        assert background.status == "completed"
        assert background.output[0].type == "function_call"
        assert set(emu.counts()["live"].values()) == {0}  # chat completions keep nothing
        assert front.counts()["live"]["responses"] == 2


def test_an_upstream_failure_fails_the_run(emu: RunningEmulator) -> None:
    upstream = ProxySettings(url=emu.url + "/openai/v1", api_key="wrong key")
    with running_emulator(proxy=upstream, poll_after_ms=2) as front:
        azure = AzureOpenAI(azure_endpoint=front.url, api_key="x", api_version=API_VERSION)
        assistant = azure.beta.assistants.create(model="gpt")
        thread = azure.beta.threads.create(messages=[{"role": "user", "content": "hi"}])
        run = azure.beta.threads.runs.create_and_poll(
            thread_id=thread.id, assistant_id=assistant.id
        )
        assert run.status == "failed"
        assert run.last_error is not None
        assert "AuthenticationError" in run.last_error.message

        v1 = OpenAI(base_url=front.url + "/openai/v1/", api_key="x")
        response = v1.responses.create(model="gpt", input="hi")
        assert response.status == "failed"
        assert response.error is not None
        assert "upstream" in response.error.message


def test_a_foreground_response_asks_the_upstream_once(emu: RunningEmulator) -> None:
    emu.configure(request_latency_ms=300)
    upstream = ProxySettings(url=emu.url + "/openai/v1", api_key=EMULATOR_KEY)
    with running_emulator(proxy=upstream) as front, ThreadPoolExecutor(1) as pool:
        v1 = OpenAI(base_url=front.url + "/openai/v1/", api_key="x")
        creating = pool.submit(v1.responses.create, model="gpt", input=QUESTION)
        deadline = time.monotonic() + 5
        while not front.state.responses and time.monotonic() < deadline:
            time.sleep(0.01)
        [response_id] = list(front.state.responses)
        seen = v1.responses.retrieve(response_id)
        created = creating.result(timeout=5)
        assert v1.responses.retrieve(response_id).status == "completed"
    assert seen.status == "in_progress"
    assert created.status == "completed"
    assert emu.counts()["requests"]["POST /chat/completions"] == 1
