"""Content filtering: a flagged prompt, tool output or answer, in Azure's shapes per API."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import openai
import pytest
from openai import AzureOpenAI, OpenAI
from openai.types.beta.threads import Run

from emulator.testing import RunningEmulator, running_emulator
from tests.support.emulator_sdk import (
    EMULATOR_KEY,
    QUESTION,
    RESPONSE_TOOLS,
    answer,
    retrieve,
    run_tool,
    start,
)

PROMPT = {"target": "prompt", "pattern": "(?i)flights", "category": "violence"}
TOOL_OUTPUT = {"target": "tool_output", "pattern": "cat_born_date", "category": "hate"}
ANSWER = {"target": "answer", "pattern": "flights", "category": "self_harm", "severity": "high"}


def assert_refused(error: openai.BadRequestError, category: str) -> None:
    """Azure's 400 for a filtered prompt: code, param, inner code and the category."""
    assert error.code == "content_filter"
    assert error.param == "prompt"
    assert "content management policy" in error.message
    assert isinstance(error.body, dict)
    inner = error.body["innererror"]
    assert inner["code"] == "ResponsibleAIPolicyViolation"
    assert inner["content_filter_result"][category] == {"filtered": True, "severity": "medium"}


def test_chat_refuses_a_filtered_prompt(v1: OpenAI, emu: RunningEmulator) -> None:
    messages: Any = [{"role": "user", "content": QUESTION}]
    clean = v1.chat.completions.create(model="gpt", messages=messages)
    assert clean.model_extra is not None
    assert clean.model_extra["prompt_filter_results"][0]["content_filter_results"]["hate"] == {
        "filtered": False,
        "severity": "safe",
    }
    emu.configure(content_filter=[PROMPT])
    with pytest.raises(openai.BadRequestError) as caught:
        v1.chat.completions.create(model="gpt", messages=messages)
    assert_refused(caught.value, "violence")


def test_chat_ends_a_filtered_answer_with_content_filter(v1: OpenAI, emu: RunningEmulator) -> None:
    emu.configure(content_filter=[{"target": "answer"}])
    completion = v1.chat.completions.create(
        model="gpt", messages=[{"role": "user", "content": "hello"}]
    )
    choice = completion.choices[0]
    assert choice.finish_reason == "content_filter"
    assert choice.message.content is None
    assert choice.model_extra is not None
    assert choice.model_extra["content_filter_results"]["violence"]["filtered"] is True


def assert_filtered(run: Run) -> None:
    """A run Azure's filter stopped: incomplete, with reason content_filter."""
    assert run.status == "incomplete"
    assert run.incomplete_details is not None
    assert run.incomplete_details.reason == "content_filter"  # type: ignore[comparison-overlap]


def test_a_run_with_a_filtered_prompt_ends_incomplete(
    azure: AzureOpenAI, emu: RunningEmulator
) -> None:
    emu.configure(content_filter=[PROMPT])
    _, _, run = start(azure)
    assert_filtered(retrieve(azure, run))
    assert azure.beta.threads.runs.steps.list(run.id, thread_id=run.thread_id).data == []


def test_a_run_with_a_filtered_tool_output_ends_incomplete(
    azure: AzureOpenAI, emu: RunningEmulator
) -> None:
    emu.configure(content_filter=[TOOL_OUTPUT])
    _, _, run = start(azure)
    waiting = retrieve(azure, run)
    assert waiting.status == "requires_action"
    answer(azure, waiting)
    assert_filtered(retrieve(azure, run))


def test_a_run_whose_answer_is_filtered_leaves_an_incomplete_message(
    azure: AzureOpenAI, emu: RunningEmulator
) -> None:
    emu.configure(content_filter=[ANSWER])
    _, thread, run = start(azure)
    run = retrieve(azure, answer(azure, retrieve(azure, run)))
    run = retrieve(azure, answer(azure, run))
    assert run.status == "incomplete"
    messages = azure.beta.threads.messages.list(thread.id, run_id=run.id).data
    assert [(m.status, m.content) for m in messages] == [("incomplete", [])]
    assert messages[0].incomplete_details is not None
    assert messages[0].incomplete_details.reason == "content_filter"


def test_responses_refuse_a_filtered_prompt_and_tool_output(
    v1: OpenAI, emu: RunningEmulator
) -> None:
    emu.configure(content_filter=[PROMPT])
    for background in (False, True):
        with pytest.raises(openai.BadRequestError) as caught:
            v1.responses.create(model="gpt-4o", input=QUESTION, background=background)
        assert_refused(caught.value, "violence")
    assert emu.live()["responses"] == 0

    emu.configure(content_filter=[TOOL_OUTPUT])
    first = v1.responses.create(model="gpt-4o", input=QUESTION, tools=RESPONSE_TOOLS)
    outputs: Any = [
        {
            "type": "function_call_output",
            "call_id": c.call_id,
            "output": run_tool(c.name, c.arguments),
        }
        for c in first.output
        if c.type == "function_call"
    ]
    with pytest.raises(openai.BadRequestError) as caught:
        v1.responses.create(
            model="gpt-4o", previous_response_id=first.id, input=outputs, tools=RESPONSE_TOOLS
        )
    assert_refused(caught.value, "hate")


def test_a_filtered_answer_makes_a_response_incomplete(v1: OpenAI, emu: RunningEmulator) -> None:
    emu.configure(content_filter=[{"target": "answer", "pattern": "no script"}])
    response = v1.responses.create(model="gpt-4o", input="hello", background=True)
    ended = v1.responses.retrieve(response.id)
    assert ended.status == "incomplete"
    assert ended.incomplete_details is not None
    assert ended.incomplete_details.reason == "content_filter"
    assert ended.output == []


def test_a_script_can_filter_its_own_answer_and_name_rules(tmp_path: Path) -> None:
    script = tmp_path / "filtered.json"
    script.write_text(
        json.dumps(
            {
                "scripts": [{"match": "storm", "turns": [{"answer": "x", "filtered": "hate"}]}],
                "content_filter": [{"target": "prompt", "pattern": "forbidden"}],
            }
        )
    )
    with running_emulator(api_key=EMULATOR_KEY, script=script) as emu:
        v1 = OpenAI(base_url=emu.url + "/openai/v1/", api_key=EMULATOR_KEY, max_retries=0)
        storm = v1.responses.create(model="m", input="a storm?")
        assert storm.incomplete_details is not None
        assert storm.incomplete_details.reason == "content_filter"
        with pytest.raises(openai.BadRequestError):
            v1.responses.create(model="m", input="something forbidden")
        assert v1.responses.create(model="m", input="calm").status == "completed"


def test_bad_filter_rules_are_refused(emu: RunningEmulator) -> None:
    for rule in ({"target": "elsewhere"}, {"target": "prompt", "pattern": "("}):
        with pytest.raises(ValueError, match="400"):
            emu.configure(content_filter=[rule])
    assert emu.config()["content_filter"] == []
