"""Scripts: the file format, templates, selection by question or by metadata."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from openai import AzureOpenAI, OpenAI

from emulator.model import Episode
from emulator.script import DEFAULT_SCRIPT, ScriptBook, ScriptError, TemplateError, render
from emulator.testing import running_emulator
from tests.support.emulator_sdk import API_VERSION, ASSISTANT_TOOLS, QUESTION, RESPONSE_TOOLS


def test_render_fills_placeholders_and_keeps_whole_values_typed() -> None:
    context = {"question": "q", "match": {"cat": "Mike"}, "outputs": {"f": {"n": 3, "l": [1, 2]}}}
    assert render("{{ match.cat }} has {{outputs.f.n}}", context) == "Mike has 3"
    assert render({"n": "{{outputs.f.n}}", "x": ["{{outputs.f.l.1}}"]}, context) == {
        "n": 3,
        "x": [2],
    }
    assert render("all: {{outputs.f}}", context) == 'all: {"n": 3, "l": [1, 2]}'
    with pytest.raises(TemplateError, match=r"outputs\.f\.missing"):
        render("{{outputs.f.missing}}", context)


@pytest.mark.parametrize(
    "data",
    [
        42,
        {"scripts": [{"turns": []}]},
        {"scripts": [{"turns": [{"call": [], "answer": "x"}]}]},
        {"scripts": [{"turns": [{"call": [{"arguments": {}}]}]}]},
        {"scripts": [{"turns": [{"call": [{"name": "a"}, {"name": "a"}]}]}]},
        {"scripts": [{"match": "(", "turns": [{"answer": "x"}]}]},
    ],
)
def test_bad_scripts_are_refused(data: Any) -> None:
    with pytest.raises(ScriptError):
        ScriptBook().add_data(data)


def test_the_default_script_plays_the_seed_scenario() -> None:
    book = ScriptBook.load()
    episode = Episode.start(book, QUESTION)
    first = episode.decide({"my_cat_born_date", "get_flights"})
    assert [(c.name, c.arguments) for c in first.calls] == [
        ("my_cat_born_date", '{"cat_name": "Mike"}')
    ]
    episode.answer_calls({first.calls[0].call_id: '{"cat_born_date": "2016-01-01"}'})
    second = episode.decide({"my_cat_born_date", "get_flights"})
    assert json.loads(second.calls[0].arguments) == {
        "date_1": "2016-01-01",
        "date_2": "2021-04-04",
    }
    episode.answer_calls({second.calls[0].call_id: '{"flights": 1920}'})
    assert "1920" in episode.decide(set()).text
    assert DEFAULT_SCRIPT.name == "seed.json"


def test_a_tool_output_without_the_quoted_key_is_answered_in_words() -> None:
    episode = Episode.start(ScriptBook.load(), QUESTION)
    call = episode.decide(None).calls[0]
    episode.answer_calls({call.call_id: "not json"})
    decision = episode.decide(None)
    assert decision.is_answer
    assert "outputs.my_cat_born_date.cat_born_date" in decision.text


def write_script(tmp_path: Path) -> Path:
    path = tmp_path / "custom.json"
    path.write_text(
        json.dumps(
            {
                "scripts": [
                    {
                        "name": "double",
                        "match": r"(?i)double (?P<n>\d+)",
                        "turns": [
                            {
                                "call": {
                                    "name": "get_flights",
                                    "arguments": {"date_1": "{{match.n}}"},
                                }
                            },
                            {"answer": "got {{outputs.get_flights.flights}}"},
                        ],
                    },
                    {"name": "polite", "turns": [{"answer": "Hello! You said: {{question}}"}]},
                ],
                "fallback": "never used: 'polite' matches everything",
            }
        )
    )
    return path


def test_a_custom_script_file_by_question_and_by_metadata(tmp_path: Path) -> None:
    with running_emulator(script=write_script(tmp_path), poll_after_ms=1) as emu:
        azure = AzureOpenAI(azure_endpoint=emu.url, api_key="k", api_version=API_VERSION)
        assistant = azure.beta.assistants.create(model="m", tools=ASSISTANT_TOOLS)
        thread = azure.beta.threads.create(messages=[{"role": "user", "content": "double 21"}])
        run = azure.beta.threads.runs.create_and_poll(
            thread_id=thread.id, assistant_id=assistant.id
        )
        assert run.required_action is not None
        call = run.required_action.submit_tool_outputs.tool_calls[0]
        assert json.loads(call.function.arguments) == {"date_1": "21"}
        run = azure.beta.threads.runs.submit_tool_outputs_and_poll(
            run_id=run.id,
            thread_id=thread.id,
            tool_outputs=[{"tool_call_id": call.id, "output": '{"flights": 42}'}],
        )
        text = azure.beta.threads.messages.list(thread.id).data[0].content[0].text.value  # type: ignore[union-attr]
        assert text == "got 42"

        v1 = OpenAI(base_url=emu.url + "/openai/v1/", api_key="k")
        chosen = v1.responses.create(
            model="m",
            input="double 2",
            tools=RESPONSE_TOOLS,
            metadata={"emulator_script": "polite"},
        )
        assert chosen.output_text == "Hello! You said: double 2"
        assert v1.responses.create(model="m", input="hi").output_text == "Hello! You said: hi"


def test_a_file_may_be_a_bare_list_of_turns(tmp_path: Path) -> None:
    path = tmp_path / "plain.json"
    path.write_text(json.dumps([{"answer": "always this"}]))
    book = ScriptBook.load([path])
    assert [s.name for s in book.scripts] == ["plain"]
    assert Episode.start(book, "anything").decide(None).text == "always this"
