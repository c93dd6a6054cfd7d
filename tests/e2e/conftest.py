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

from devhost.testing import DevhostProcess, running_devhost
from emulator.script import DEFAULT_SCRIPT
from emulator.testing import RunningEmulator, running_emulator
from tests.support.api_contract import check_answer

REPO_ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = Path(__file__).parent / "scripts"
EMULATOR_KEY = "e2e-emulator-key"
SEED_QUESTION = "How many flights do we have between my cat Mike born date and Easter 2021?"


def app_settings(emulator_url: str, storage: str) -> dict[str, str]:
    """The app settings the app runs with: the emulator, Azurite, fast polling."""
    return {
        "AZURE_OPENAI_ENDPOINT": emulator_url,
        "AZURE_OPENAI_API_KEY": EMULATOR_KEY,
        "AZURE_OPENAI_DEPLOYMENT": "gpt-4o-mini",
        "OPENAI_API_VERSION": "2024-05-01-preview",
        "OPENAI_MAX_RETRIES": "1",
        "AzureWebJobsStorage": storage,
        "TASKHUB_NAME": "e2e",
        "PURGE_SCHEDULE": "0 0 3 * * *",
        "POLL_INITIAL_MS": "50",
        "POLL_MAX_MS": "200",
        "TOOL_MODULES": "tests.e2e.slow_tools",
    }


@pytest.fixture(scope="session")
def emulator() -> Iterator[RunningEmulator]:
    """The model service: the seed script plus this folder's scripts."""
    with running_emulator(
        api_key=EMULATOR_KEY, script=[DEFAULT_SCRIPT, SCRIPTS / "pauses.json"]
    ) as emu:
        yield emu


@pytest.fixture
def model(emulator: RunningEmulator) -> Iterator[RunningEmulator]:
    """The session's emulator, with its controls put back after the test."""
    before = emulator.config()
    yield emulator
    emulator.configure(**{k: v for k, v in before.items() if k != "seed"})


@pytest.fixture(scope="session")
def settings(emulator: RunningEmulator, azurite: str) -> dict[str, str]:
    return app_settings(emulator.url, azurite)


@pytest.fixture(scope="session")
def app(
    settings: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[DevhostProcess]:
    """devhost serving the repository's function_app.py."""
    data_dir = tmp_path_factory.mktemp("devhost")
    with running_devhost(REPO_ROOT, data_dir=data_dir, env=settings) as host:
        yield host


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
