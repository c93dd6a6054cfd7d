"""`?wait=N` answers as soon as the run's outcome is final (its end recorded in the
run's event log), while the orchestration still tears down behind the answer."""

from __future__ import annotations

from typing import Any

import requests

from emulator.testing import AdminClient
from localrun.devhost_process import DevhostProcess
from tests.support.app_http import (
    FINAL_FIELDS,
    SEED_QUESTION,
    cancel_run,
    checked,
    run_status,
    start_run,
    wait_until_finished,
)

DELETE_ASSISTANT = "DELETE /assistants/{assistant_id}"
FAILED_DELETES = 4
"""500s for the run's assistant delete: with one SDK retry the teardown activity
fails and is retried by the host, seconds later (its retry policy)."""


def slow_teardown(model: AdminClient) -> None:
    model.configure(faults=[{"fault": "500", "count": FAILED_DELETES, "route": DELETE_ASSISTANT}])


def final(view: dict[str, Any]) -> dict[str, Any]:
    return {k: view[k] for k in FINAL_FIELDS}


def test_the_wait_answers_with_the_final_answer_while_teardown_goes_on(
    app: DevhostProcess, model: AdminClient
) -> None:
    slow_teardown(model)

    reply = start_run(app.url, {"question": SEED_QUESTION, "backend": "assistants"}, wait=60)

    assert reply.status_code == 200, reply.text
    answered = reply.json()
    assert (answered["done"], answered["outcome"]) == (True, "completed"), answered
    assert "flights" in answered["answer"] and answered["tool_call_count"] == 2
    # The orchestration still runs its teardown: the status says so.
    assert (answered["runtime_status"], answered["phase"]) == ("Running", "tearing_down")
    assert model.live()["assistants"] == 1

    right_after = run_status(app.url, answered["id"])
    assert final(right_after) == final(answered)
    assert cancel_run(app.url, answered["id"]).status_code == 409  # nothing left to stop

    finished = wait_until_finished(app.url, answered["id"], timeout=60)
    assert finished["runtime_status"] == "Completed" and final(finished) == final(answered)
    assert [c["name"] for c in finished["tool_calls"]] == ["my_cat_born_date", "get_flights"]
    assert set(model.live().values()) == {0}


def test_a_get_with_wait_answers_once_the_outcome_is_final(
    app: DevhostProcess, model: AdminClient
) -> None:
    slow_teardown(model)
    started = start_run(app.url, {"question": SEED_QUESTION, "backend": "assistants"})
    assert started.status_code == 202, started.text
    status_url = started.json()["links"]["status"]

    reply = checked(requests.get(status_url, params={"wait": 60}, timeout=90))

    assert reply.status_code == 200, reply.text
    view = reply.json()
    assert (view["done"], view["outcome"], view["runtime_status"]) == (True, "completed", "Running")
    assert "flights" in view["answer"]
    finished = wait_until_finished(app.url, view["id"], timeout=60)
    assert final(finished) == final(view)


def test_a_terminated_run_is_answered_by_its_status(
    app: DevhostProcess, model: AdminClient
) -> None:
    model.configure(latency_ms=60_000)  # the model "thinks" until the run is terminated
    started = start_run(app.url, {"question": SEED_QUESTION, "backend": "responses"})
    instance_id = started.json()["id"]
    terminated = requests.post(
        f"{app.webhook}/instances/{instance_id}/terminate",
        params={"reason": "stopped by an operator"},
        timeout=10,
    )
    assert terminated.status_code == 202

    reply = checked(
        requests.get(started.json()["links"]["status"], params={"wait": 30}, timeout=60)
    )

    view = reply.json()
    assert (view["done"], view["runtime_status"], view["outcome"]) == (
        True,
        "Terminated",
        "cancelled",
    )
    assert "stopped by an operator" in view["error"]
