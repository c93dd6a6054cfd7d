"""Runs of the app end to end: real HTTP into devhost, real SDK calls to the emulator.

After every run, the emulator must hold no assistant, thread or response: teardown
ran on that path.
"""

from __future__ import annotations

import json
from datetime import date

import pytest
from dateutil.relativedelta import relativedelta

from emulator.testing import AdminClient
from localrun.devhost_process import DevhostProcess
from tests.support.app_http import (
    REPO_ROOT,
    SEED_QUESTION,
    cancel_run,
    run_status,
    run_to_end,
    start_run,
    wait_for_phase,
    wait_until_finished,
)

DEFAULT_VERSION = json.loads((REPO_ROOT / "host.json").read_text())["extensions"]["durableTask"][
    "defaultVersion"
]


@pytest.mark.parametrize("backend", ["assistants", "responses"])
def test_the_seed_question_is_answered_with_the_day_count(
    app: DevhostProcess, model: AdminClient, backend: str
) -> None:
    cat_born = date.today() - relativedelta(years=10)
    expected_days = (date(2021, 4, 4) - cat_born).days

    result = run_to_end(app.url, SEED_QUESTION, backend)

    assert (result["runtime_status"], result["done"]) == ("Completed", True)
    assert result["outcome"] == "completed"
    assert str(expected_days) in result["answer"]
    assert [c["name"] for c in result["tool_calls"]] == ["my_cat_born_date", "get_flights"]
    assert cat_born.isoformat() in result["tool_calls"][1]["arguments"]
    assert result["backend"] == backend
    assert result["version"] == DEFAULT_VERSION  # host.json's, stamped on the instance
    status = run_status(app.url, result["id"])
    assert status == result  # one shape for a run: the wait's answer is the run's view
    assert set(model.live().values()) == {0}


@pytest.mark.parametrize("backend", ["assistants", "responses"])
def test_two_tool_calls_of_one_step_run_at_the_same_time(
    app: DevhostProcess, model: AdminClient, backend: str
) -> None:
    result = run_to_end(app.url, "Please pause twice.", backend)

    assert result["outcome"] == "completed", result
    calls = result["tool_calls"]
    assert [c["name"] for c in calls] == ["pause", "pause"]
    assert {c["step"] for c in calls} == {calls[0]["step"]}
    first, second = (json.loads(c["output"]) for c in calls)
    # Each waited a second; the waits overlapped, so the step took about one second.
    assert first["began"] < second["ended"]
    assert second["began"] < first["ended"]
    assert set(model.live().values()) == {0}


def test_a_cancelled_run_ends_cancelled_and_leaves_nothing(
    app: DevhostProcess, model: AdminClient
) -> None:
    model.configure(latency_ms=60_000)  # the model "thinks" until the run is cancelled
    reply = start_run(app.url, {"question": SEED_QUESTION, "backend": "assistants"})
    assert reply.status_code == 202, reply.text
    instance_id = reply.json()["id"]
    wait_for_phase(app.url, instance_id, "waiting_for_model")

    cancel = cancel_run(app.url, instance_id, {"reason": "user pressed stop"})

    assert cancel.status_code == 202, cancel.text
    status = wait_until_finished(app.url, instance_id)
    assert status["runtime_status"] == "Completed"
    assert status["outcome"] == "cancelled"
    assert status["answer"] is None
    assert "user pressed stop" in status["error"]
    assert set(model.live().values()) == {0}
    again = cancel_run(app.url, instance_id)
    assert again.status_code == 409


@pytest.mark.parametrize("backend", ["assistants", "responses"])
def test_a_failing_run_reports_why_and_leaves_nothing(
    app: DevhostProcess, model: AdminClient, backend: str
) -> None:
    model.configure(outcomes=[{"outcome": "failed", "count": 1}])

    result = run_to_end(app.url, SEED_QUESTION, backend)

    assert result["outcome"] == "failed"
    assert result["answer"] is None
    assert result["error"]
    assert set(model.live().values()) == {0}
