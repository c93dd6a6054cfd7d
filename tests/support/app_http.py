"""The end-to-end tests' helpers: the app's HTTP API called over real HTTP,
each answer held to the public contract, and waits on a run."""

from __future__ import annotations

import time
from datetime import date
from pathlib import Path
from typing import Any

import requests
from dateutil.relativedelta import relativedelta

from localrun.stack import SEED_QUESTION
from tests.support.api_contract import check_answer

REPO_ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = REPO_ROOT / "tests" / "e2e" / "scripts"


__all__ = ["SEED_QUESTION"]  # the e2e tests ask it


E2E_SETTINGS = {
    "OPENAI_MAX_RETRIES": "1",
    "TASKHUB_NAME": "e2e",
    "POLL_INITIAL_MS": "50",
    "POLL_MAX_MS": "200",
    "TOOL_MODULES": "tests.e2e.slow_tools",
}


"""What the end-to-end runs change in the local stack's settings: fast polling, the
slow tools, one SDK retry."""


def seed_answer_days() -> int:
    """The day count the seed question's answer must hold (the cat was born ten years
    ago today; the flight is on 2021-04-04)."""
    return (date(2021, 4, 4) - (date.today() - relativedelta(years=10))).days


def checked(reply: requests.Response) -> requests.Response:
    """An answer of the app, held to the public contract (`check_answer`)."""
    request = reply.request
    assert request.method is not None and request.url is not None
    check_answer(request.method, request.url, reply.status_code, reply.headers, reply.content)
    return reply


def start_run(base_url: str, body: dict[str, Any], wait: int = 0) -> requests.Response:
    return checked(
        requests.post(f"{base_url}/api/runs", params={"wait": wait}, json=body, timeout=wait + 30)
    )


FINAL_FIELDS = ("id", "done", "outcome", "answer", "error", "steps", "tool_call_count", "usage")
"""What a run's view says for good once it is `done`."""


def run_to_end(base_url: str, question: str, backend: str) -> dict[str, Any]:
    """Ask `question` with `?wait=60` (200 expected) and give the run's view once the
    orchestration finished too (the wait answers when the outcome is final, teardown
    may still go on), which must say what the wait's answer said."""
    reply = start_run(base_url, {"question": question, "backend": backend}, wait=60)
    assert reply.status_code == 200, reply.text
    answered: dict[str, Any] = reply.json()
    result = wait_until_finished(base_url, answered["id"])
    assert {k: result[k] for k in FINAL_FIELDS} == {k: answered[k] for k in FINAL_FIELDS}
    return result


def cancel_run(base_url: str, instance_id: str, body: Any = None) -> requests.Response:
    return checked(
        requests.post(f"{base_url}/api/runs/{instance_id}/cancel", json=body, timeout=10)
    )


def run_status(base_url: str, instance_id: str) -> dict[str, Any]:
    reply = checked(requests.get(f"{base_url}/api/runs/{instance_id}", timeout=10))
    reply.raise_for_status()
    body: dict[str, Any] = reply.json()
    return body


FINISHED = ("Completed", "Failed", "Terminated", "Canceled")


def wait_until_finished(base_url: str, instance_id: str, timeout: float = 30) -> dict[str, Any]:
    """The run's view once its orchestration is over (teardown included)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = run_status(base_url, instance_id)
        if status["runtime_status"] in FINISHED:
            assert status["done"], status
            return status
        time.sleep(0.1)
    raise AssertionError(f"run {instance_id} not finished after {timeout}s: {status}")


def wait_for_phase(base_url: str, instance_id: str, phase: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if run_status(base_url, instance_id).get("phase") == phase:
            return
        time.sleep(0.05)
    raise AssertionError(f"run {instance_id} never reached phase {phase}")
