"""The whole app over real HTTP: devhost running function_app.py, the Azure OpenAI
emulator and Azurite, each a real server, started once for the session.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from devhost.testing import DevhostProcess
from emulator.testing import AdminClient
from localrun.stack import SEED_QUESTION, Stack, running_stack
from tests.support.api_contract import check_answer

REPO_ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = Path(__file__).parent / "scripts"

__all__ = ["SEED_QUESTION"]

E2E_SETTINGS = {
    "OPENAI_MAX_RETRIES": "1",
    "TASKHUB_NAME": "e2e",
    "POLL_INITIAL_MS": "50",
    "POLL_MAX_MS": "200",
    "TOOL_MODULES": "tests.e2e.slow_tools",
}
"""What the end-to-end runs change in the local stack's settings: fast polling, the
slow tools, one SDK retry."""


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Azurite, the emulator (the seed script plus this folder's) and devhost serving
    the repository's function_app.py, for the session."""
    data_dir = tmp_path_factory.mktemp("stack")
    with running_stack(
        data_dir, overrides=E2E_SETTINGS, scripts=[SCRIPTS / "pauses.json"]
    ) as running:
        yield running


@pytest.fixture
def model(stack: Stack) -> Iterator[AdminClient]:
    """The session's emulator, with its controls put back after the test."""
    emulator = stack.emulator
    before = emulator.config()
    yield emulator
    emulator.configure(**{k: v for k, v in before.items() if k != "seed"})


@pytest.fixture(scope="session")
def settings(stack: Stack) -> dict[str, str]:
    return stack.settings


@pytest.fixture(scope="session")
def app(stack: Stack) -> DevhostProcess:
    """devhost serving the repository's function_app.py."""
    return stack.app


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


def cancel_run(base_url: str, instance_id: str, body: Any = None) -> requests.Response:
    return checked(
        requests.post(f"{base_url}/api/runs/{instance_id}/cancel", json=body, timeout=10)
    )


def run_status(base_url: str, instance_id: str) -> dict[str, Any]:
    reply = checked(requests.get(f"{base_url}/api/runs/{instance_id}", timeout=10))
    reply.raise_for_status()
    body: dict[str, Any] = reply.json()
    return body


def wait_until_done(base_url: str, instance_id: str, timeout: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = run_status(base_url, instance_id)
        if status["done"]:
            return status
        time.sleep(0.1)
    raise AssertionError(f"run {instance_id} not done after {timeout}s: {status}")


def wait_for_phase(base_url: str, instance_id: str, phase: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if run_status(base_url, instance_id).get("phase") == phase:
            return
        time.sleep(0.05)
    raise AssertionError(f"run {instance_id} never reached phase {phase}")
