"""Runs in flight survive a deploy: every recorded history replays on the current code.

The recordings in `tests/histories/` are real runs (both backends; completed, failed,
cancelled, past their deadline, throttled, failed as an orchestration, continued as
new), recorded through devhost by `python -m tests.histories.record`. Each is replayed
through the orchestrator as the worker runs it, with the real replay executor, and
every payload it holds must still be read whole by the current models. A change that
fails here would fail, or silently change, the runs in flight when it is deployed.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, create_model

from durable_assistant import model as domain
from durable_assistant.model import RunResult
from tests.orchestration.history import EXECUTION_STARTED, TASK_SCHEDULED, NondeterminismError
from tests.orchestration.replay import (
    load,
    payload_problems,
    recordings,
    replay_recording,
)
from tests.orchestration.runs import orchestrator_entry

REPO_ROOT = Path(__file__).resolve().parents[2]
RECORDINGS = recordings()
DEFAULT_VERSION = json.loads((REPO_ROOT / "host.json").read_text())["extensions"]["durableTask"][
    "defaultVersion"
]
WANTED = {
    "completed-assistants",
    "completed-responses",
    "failed-assistants",
    "failed-responses",
    "cancelled-assistants",
    "deadline-responses",
    "throttled-responses",
    "orchestration-failed-responses",
    "outage-responses",
    "content-filtered-responses",
    "continue-as-new-assistants",
    "in-flight-tools-responses",
    "in-flight-polling-assistants",
}
"""Every way a run ends, and runs caught in flight. Recordings made by earlier
versions of the app (named `*-before-versioning`: instances started without an
orchestration version; `*-v1.0`: a flow version 1.1 changed) are kept as they are:
runs like them may still be in flight."""


def test_the_recordings_cover_every_way_a_run_ends() -> None:
    assert {path.stem for path in RECORDINGS} >= WANTED


@pytest.mark.parametrize("path", RECORDINGS, ids=lambda p: p.stem)
def test_a_recorded_history_replays_on_the_current_orchestrator(path: Path) -> None:
    replay_recording(orchestrator_entry(), load(path))


def test_instances_of_old_and_new_orchestration_versions_replay_as_their_version() -> None:
    versions = set()
    for path in RECORDINGS:
        recording = load(path)
        started = next(e for e in recording["history"] if e["EventType"] == EXECUTION_STARTED)
        replayed = replay_recording(orchestrator_entry(), recording)
        if replayed.done and replayed.error is None:
            assert RunResult.from_json(replayed.output).version == (started["Version"] or None)
        versions.add(started["Version"])
    assert {"", DEFAULT_VERSION} <= versions  # before versioning, and host.json's now


@pytest.mark.parametrize("path", RECORDINGS, ids=lambda p: p.stem)
def test_every_payload_of_a_recorded_history_is_read_whole(path: Path) -> None:
    assert payload_problems(load(path)["history"]) == []


# -- the test can fail: changes that would break runs in flight --


def without_field(model: type[BaseModel], name: str) -> type[BaseModel]:
    """`model` as it would be with field `name` deleted from its class."""
    fields: dict[str, Any] = {
        key: (info.annotation, info) for key, info in model.model_fields.items() if key != name
    }
    return create_model(model.__name__, __base__=domain.Stored, **fields)


def with_field(model: type[BaseModel], name: str, default: Any = ...) -> type[BaseModel]:
    """`model` with a field `name` added (required when there is no default)."""
    fields: dict[str, Any] = {
        key: (info.annotation, info) for key, info in model.model_fields.items()
    }
    fields[name] = (str | None, default)
    return create_model(model.__name__, __base__=domain.Stored, **fields)


def test_removing_a_field_of_a_stored_payload_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(domain, "RunHandle", without_field(domain.RunHandle, "thread_id"))
    history = load(Path(__file__).parents[1] / "histories" / "completed-assistants.json")
    problems = payload_problems(history["history"])
    assert any("RunHandle lost thread_id" in p for p in problems), problems
    assert any("Step lost handle.thread_id" in p for p in problems), problems


def test_adding_an_optional_field_to_a_stored_payload_passes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("RunHandle", "RunPlan", "Step", "RunResult"):
        monkeypatch.setattr(domain, name, with_field(getattr(domain, name), "added", None))
    for path in RECORDINGS:
        assert payload_problems(load(path)["history"]) == [], path.stem


def test_adding_a_required_field_to_a_stored_payload_fails(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(domain, "RunHandle", with_field(domain.RunHandle, "region"))
    history = load(Path(__file__).parents[1] / "histories" / "completed-responses.json")
    problems = payload_problems(history["history"])
    assert any("RunHandle cannot read it" in p and "region" in p for p in problems), problems


def test_an_orchestrator_that_schedules_otherwise_fails_the_replay() -> None:
    recording = load(Path(__file__).parents[1] / "histories" / "completed-responses.json")
    changed = copy.deepcopy(recording)
    first = next(e for e in changed["history"] if e["EventType"] == TASK_SCHEDULED)
    first["Name"] = "create_run"  # as if the code had renamed its first activity
    with pytest.raises(NondeterminismError, match="create_run"):
        replay_recording(orchestrator_entry(), changed)


def test_an_orchestrator_that_ends_otherwise_fails_the_replay() -> None:
    recording = load(Path(__file__).parents[1] / "histories" / "failed-responses.json")
    changed = copy.deepcopy(recording)
    ending = next(e for e in changed["history"] if e["EventType"] == 1)
    ending["Result"] = ending["Result"].replace('"outcome": "failed"', '"outcome": "completed"')
    with pytest.raises(AssertionError, match="ended 'failed'"):
        replay_recording(orchestrator_entry(), changed)
