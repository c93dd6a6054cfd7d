"""Outages of what the app depends on, longer than a few retries: a run waits them out
on durable timers while its deadline allows, and ends with the deadline outcome when
it does not. Over real HTTP: the emulator failing every request for a while, and
Azurite really stopped and started again.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from emulator.testing import AdminClient
from localrun.azurite import AzuritePorts, connection_string, start_azurite
from localrun.devhost_process import DevhostProcess, running_devhost
from localrun.processes import ReadyProcess
from localrun.stack import SEED_QUESTION, EmulatorProcess, app_settings, running_model
from tests.support.app_http import (
    E2E_SETTINGS,
    REPO_ROOT,
    seed_answer_days,
    start_run,
    wait_for_phase,
    wait_until_finished,
)
from tests.support.waiting import holds_within

OUTAGE_SECONDS = 12.0
"""Longer than a model call was retried before (4 attempts 2 s apart, each with the
SDK's own retry): such an outage failed the run."""


def all_gone(model: AdminClient, timeout: float = 15) -> bool:
    return holds_within(lambda: not any(model.live().values()), timeout)


def assert_answered(status: dict[str, object]) -> None:
    assert status["outcome"] == "completed", status
    assert str(seed_answer_days()) in str(status["answer"]), status


# -- the model service ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("backend", "fault"), [("responses", "500"), ("assistants", "drop")], ids=["500", "drop"]
)
def test_a_model_outage_longer_than_a_few_retries_is_waited_out(
    app: DevhostProcess, model: AdminClient, backend: str, fault: str
) -> None:
    model.configure(faults=[{"fault": fault, "seconds": OUTAGE_SECONDS}])
    began = time.monotonic()
    body = {"question": SEED_QUESTION, "backend": backend}
    instance_id = start_run(app.url, body).json()["id"]

    status = wait_until_finished(app.url, instance_id, timeout=OUTAGE_SECONDS + 60)

    assert time.monotonic() - began > OUTAGE_SECONDS  # nothing was answered before
    assert_answered(status)
    assert all_gone(model), model.live()


def test_a_model_outage_past_the_deadline_ends_with_the_deadline_outcome(
    app: DevhostProcess, model: AdminClient
) -> None:
    model.configure(faults=[{"fault": "503", "seconds": OUTAGE_SECONDS}])
    body = {"question": SEED_QUESTION, "backend": "responses", "deadline_seconds": 6}
    instance_id = start_run(app.url, body).json()["id"]

    status = wait_until_finished(app.url, instance_id, timeout=OUTAGE_SECONDS + 60)

    assert status["runtime_status"] == "Completed", status
    assert status["outcome"] == "deadline_exceeded", status
    error = str(status["error"])
    assert error.startswith("the run did not finish within its deadline of 6 s"), status
    assert "start_run" in error and "503" in error, status  # what it was waiting out
    assert all_gone(model), model.live()


# -- the app's storage (Azurite) ----------------------------------------------------------


class Azurite:
    """Azurite of its own, stopped and started again on the same ports and data."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.ports = AzuritePorts.free()
        self.connection_string = connection_string(self.ports)
        self.process: ReadyProcess | None = None
        self.start()

    def start(self) -> None:
        self.process = start_azurite(self.ports, data_dir=self.data_dir)

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()
            self.process = None


@dataclass
class StorageStack:
    azurite: Azurite
    model: EmulatorProcess
    app: DevhostProcess


@pytest.fixture(scope="module")
def storage(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StorageStack]:
    """A stack whose Azurite the tests may stop (the session's is shared)."""
    data_dir = tmp_path_factory.mktemp("storage-outage")
    azurite = Azurite(data_dir / "azurite")
    try:
        with running_model() as model:
            settings = app_settings(
                azurite.connection_string, model.url, model.identity_env, **E2E_SETTINGS
            )
            with running_devhost(REPO_ROOT, data_dir / "devhost", env=settings) as app:
                yield StorageStack(azurite, model, app)
    finally:
        azurite.stop()


@pytest.fixture
def stopped(storage: StorageStack) -> Iterator[StorageStack]:
    """The storage stack with Azurite stopped; started again after the test."""
    storage.azurite.stop()
    try:
        yield storage
    finally:
        if storage.azurite.process is None:
            storage.azurite.start()


def test_a_storage_outage_at_the_start_of_a_run_is_waited_out(stopped: StorageStack) -> None:
    app = stopped.app
    body = {"question": SEED_QUESTION, "backend": "responses"}
    instance_id = start_run(app.url, body).json()["id"]
    wait_for_phase(app.url, instance_id, "starting")
    assert app.printed(f"{instance_id}"), "the run never began"
    time.sleep(OUTAGE_SECONDS)  # the outage itself
    stopped.azurite.start()

    status = wait_until_finished(app.url, instance_id, timeout=90)

    assert_answered(status)
    assert all_gone(stopped.model), stopped.model.live()


def test_a_run_that_ends_while_storage_is_down_says_why_without_internals(
    stopped: StorageStack,
) -> None:
    app = stopped.app
    body = {"question": SEED_QUESTION, "backend": "responses", "deadline_seconds": 5}
    instance_id = start_run(app.url, body).json()["id"]
    wait_for_phase(app.url, instance_id, "tearing_down", timeout=60)
    stopped.azurite.start()  # teardown may record the end and delete what was made

    status = wait_until_finished(app.url, instance_id, timeout=90)

    assert status["outcome"] == "deadline_exceeded", status
    error = str(status["error"])
    assert "storage" in error, status  # what the run was waiting out
    assert "127.0.0.1" not in error and not re.search(r":\d{2,5}\b", error), status
    assert str(stopped.azurite.ports.table) not in error, status
    assert "Traceback" not in error and "{" not in error, status
