"""Model-provided strings are bounded before the app stores them (history, trace)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from durable_assistant.model import (
    MAX_ANSWER_CHARS,
    MAX_ARGUMENTS_CHARS,
    MAX_TOOL_NAME_CHARS,
    Backend,
    RunStatus,
    ToolCall,
)
from emulator.testing import running_emulator
from tests.support.backends import emulator_settings, make_harness
from tests.support.emulator_sdk import EMULATOR_KEY

HUGE = 200_000


def test_a_huge_tool_name_is_cut_to_its_bound() -> None:
    call = ToolCall.from_model("call_1", "n" * HUGE, "{}")

    assert len(call.name) == MAX_TOOL_NAME_CHARS
    assert call.call_id == "call_1"


@pytest.mark.parametrize("kind", list(Backend), ids=lambda b: b.value)
def test_huge_arguments_and_answers_from_the_model_are_cut(
    tmp_path: Path, clean_env: pytest.MonkeyPatch, kind: Backend
) -> None:
    script = tmp_path / "huge.json"
    script.write_text(
        json.dumps(
            {
                "scripts": [
                    {
                        "match": "huge arguments",
                        "turns": [
                            {"call": [{"name": "get_flights", "arguments": {"x": "a" * HUGE}}]},
                            {"answer": "b" * HUGE},
                        ],
                    }
                ]
            }
        )
    )
    with running_emulator(api_key=EMULATOR_KEY, script=[script], retry_after_ms=10) as emu:
        harness = make_harness(kind, emu, emulator_settings(emu.url))
        step = harness.settle(harness.start("huge arguments"))

        assert step.state.status is RunStatus.REQUIRES_ACTION
        [call] = step.state.tool_calls
        assert len(call.arguments) == MAX_ARGUMENTS_CHARS
        end = harness.settle(harness.submit(step, harness.run_tools(step)))
        assert end.state.status is RunStatus.COMPLETED
        assert end.state.answer is not None
        assert len(end.state.answer) == MAX_ANSWER_CHARS
        harness.backend.teardown(end.handle)
