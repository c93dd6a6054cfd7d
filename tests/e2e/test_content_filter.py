"""Runs Azure's content filter stops: the question, a tool output or the answer.

Each ends with the outcome `content_filtered`, a reason that names what was
filtered, and teardown as always (the emulator holds nothing afterwards).
"""

from __future__ import annotations

import pytest

from emulator.testing import AdminClient
from localrun.devhost_process import DevhostProcess
from tests.support.app_http import SEED_QUESTION, run_status, run_to_end

CASES = [
    (
        {"target": "prompt", "pattern": "(?i)how many flights"},
        "the question or the instructions",
        0,
    ),
    ({"target": "tool_output", "pattern": "cat_born_date"}, "a tool output", 1),
    ({"target": "answer", "pattern": "flights"}, "the model's answer", 2),
]


@pytest.mark.parametrize("backend", ["assistants", "responses"])
@pytest.mark.parametrize(("rule", "named", "tool_calls"), CASES)
def test_a_filtered_run_ends_content_filtered_and_leaves_nothing(
    app: DevhostProcess,
    model: AdminClient,
    backend: str,
    rule: dict[str, str],
    named: str,
    tool_calls: int,
) -> None:
    model.configure(content_filter=[rule])

    result = run_to_end(app.url, SEED_QUESTION, backend)

    assert result["outcome"] == "content_filtered", result
    assert result["answer"] is None
    assert f"content filter stopped the run: {named} was filtered" in result["error"]
    assert len(result["tool_calls"]) == tool_calls
    status = run_status(app.url, result["id"])
    assert (status["runtime_status"], status["outcome"]) == ("Completed", "content_filtered")
    assert set(model.live().values()) == {0}
