"""The host side of the protocol, checked without a server: trigger input, IDs, failures."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from devhost.history import EventType
from devhost.indexer import AppIndex, index_app
from devhost.orchestration_runner import EpisodeRunner, execution_started
from devhost.store import Commit, Instance, Message, NewMessage, Store

APP = Path(__file__).parent / "apps" / "patterns"


@pytest.fixture(scope="module")
def index() -> Iterator[AppIndex]:
    """The sample app indexed in this process, leaving sys.path and sys.modules as found
    (other tests import the product's own `function_app`)."""
    saved_path = list(sys.path)
    saved_module = sys.modules.pop("function_app", None)
    try:
        yield index_app(APP)
    finally:
        sys.path[:] = saved_path
        sys.modules.pop("function_app", None)
        if saved_module is not None:
            sys.modules["function_app"] = saved_module


def new_instance(name: str, raw_input: Any) -> Instance:
    now = datetime(2026, 1, 1, tzinfo=UTC).timestamp()
    return Instance("i-1", name, "e-1", "Pending", json.dumps(json.dumps(raw_input)), now, now)


def test_trigger_input_and_scheduling(index: AppIndex) -> None:
    seen: list[dict[str, Any]] = []
    real = index.orchestrator("fan_out")
    assert real is not None

    def call(function: Any, payload: str) -> str:
        seen.append(json.loads(payload))
        return str(function.func(context=payload))

    runner = EpisodeRunner(index, call)
    instance = new_instance("fan_out", {"activity": "nap", "seconds": 1, "n": 3})
    now = datetime(2026, 1, 1, 0, 0, 1, tzinfo=UTC)
    start = Message(1, "i-1", None, 0.0, execution_started(instance, now, None))
    commit, outcome = runner.run(instance, [], [start], now)

    payload = seen[0]
    assert payload["upperSchemaVersionNew"] == 2
    assert payload["input"] == json.dumps({"activity": "nap", "seconds": 1, "n": 3})
    kinds = [e["EventType"] for e in payload["history"]]
    assert kinds == [EventType.ORCHESTRATOR_STARTED, EventType.EXECUTION_STARTED]
    assert outcome.ran and outcome.ok
    scheduled = [e for e in commit.history if e["EventType"] == EventType.TASK_SCHEDULED]
    assert [e["EventId"] for e in scheduled] == [0, 1, 2]
    assert scheduled[0]["Input"] == json.dumps(["1"])
    assert commit.work == [(0, "nap", "1"), (1, "nap", "1"), (2, "nap", "1")]
    assert commit.history[-1]["EventType"] == EventType.ORCHESTRATOR_COMPLETED
    assert instance.status == "Running"

    # Second episode: all three complete; earlier events are replayed as played.
    history = commit.history
    done = [
        Message(
            10 + n,
            "i-1",
            "e-1",
            0.0,
            {
                "EventType": int(EventType.TASK_COMPLETED),
                "EventId": -1,
                "IsPlayed": False,
                "Timestamp": (now + timedelta(seconds=1)).isoformat(),
                "TaskScheduledId": n,
                "Result": json.dumps(n),
            },
        )
        for n in (2, 0, 1, 1)  # any order, with one duplicate
    ]
    commit, outcome = runner.run(instance, history, done, now + timedelta(seconds=1))
    replayed = seen[1]["history"]
    assert all(e["IsPlayed"] for e in replayed[: len(history)])
    assert sum(e["EventType"] == EventType.TASK_COMPLETED for e in replayed) == 3
    assert instance.status == "Completed"
    assert json.loads(instance.output or "") == [0, 1, 2]


def test_action_of_another_type_is_nondeterminism(index: AppIndex) -> None:
    runner = EpisodeRunner(index, lambda function, payload: str(function.func(context=payload)))
    instance = Instance("i-2", "timer", "e-2", "Pending", json.dumps(json.dumps(5)), 0.0, 0.0)
    now = datetime(2026, 1, 1, tzinfo=UTC)
    start = Message(1, "i-2", None, 0.0, execution_started(instance, now, None))
    first, _ = runner.run(instance, [], [start], now)
    timers = [e for e in first.history if e["EventType"] == EventType.TIMER_CREATED]
    assert [e["EventId"] for e in timers] == [0]

    # The code changes: the same instance now schedules an activity as its first task.
    instance.name = "counter"
    fired = first.messages[0]
    assert fired.event["EventType"] == EventType.TIMER_FIRED
    message = Message(2, "i-2", "e-2", fired.visible_at, fired.event)
    later = now + timedelta(seconds=5)
    second, outcome = runner.run(instance, first.history, [message], later)
    assert not outcome.ok
    assert instance.status == "Failed"
    output = json.loads(instance.output or "")
    assert output.startswith("Non-Deterministic workflow detected: ")
    assert "a durable timer with sequence ID 0" in output
    assert "instead scheduled an activity task with name 'hello'" in output
    assert second.work == []


def start_episode(index: AppIndex, name: str, raw_input: Any) -> tuple[Instance, Any, Any]:
    """Run the first episode of a new instance of `name`."""
    runner = EpisodeRunner(index, lambda function, payload: str(function.func(context=payload)))
    instance = new_instance(name, raw_input)
    now = datetime(2026, 1, 1, tzinfo=UTC)
    start = Message(1, instance.instance_id, None, 0.0, execution_started(instance, now, None))
    commit, outcome = runner.run(instance, [], [start], now)
    return instance, commit, outcome


def test_custom_status_over_16_kb_fails_the_instance(index: AppIndex) -> None:
    # '"' + n * 'x' + '"' in UTF-16 is 2 * (n + 2) bytes; the host rounds KB down.
    fits, commit, outcome = start_episode(index, "big_status", 8701)
    assert outcome.ok and fits.status == "Running"
    assert commit.work and len(json.loads(fits.custom_status or "")) == 8701

    big, commit, outcome = start_episode(index, "big_status", 8702)
    assert not outcome.ok and big.status == "Failed"
    assert json.loads(big.output or "") == (
        "Orchestrator function 'big_status' failed: The UTF-16 size of the JSON-serialized "
        "payload must not exceed 16 KB. The current payload size is 17 KB."
    )
    assert big.custom_status is None
    assert commit.work == []


@pytest.mark.parametrize(
    ("name", "raw_input", "logged"),
    [
        ("calls_missing", "activity", "doesn't exist, is disabled, or is not an activity"),
        ("calls_missing", "orchestrator", "doesn't exist, is disabled, or is not an orchestrator"),
        ("adopts", "self", "must be different than the instance ID of a parent orchestration"),
        ("adopts", "@odd", "Orchestration instance ids must not start with @"),
    ],
)
def test_task_the_extension_rejects_is_never_answered(
    index: AppIndex, caplog: pytest.LogCaptureFixture, name: str, raw_input: str, logged: str
) -> None:
    with caplog.at_level(logging.ERROR, logger="devhost.orchestrations"):
        instance, commit, outcome = start_episode(index, name, raw_input)
    assert outcome.ok and instance.status == "Running"
    # No TaskScheduled/SubOrchestrationInstanceCreated, no failure event, no sequence id taken.
    kinds = [e["EventType"] for e in commit.history]
    assert kinds == [
        EventType.ORCHESTRATOR_STARTED,
        EventType.EXECUTION_STARTED,
        EventType.ORCHESTRATOR_COMPLETED,
    ]
    assert commit.messages == [] and commit.work == [] and commit.creates == []
    assert instance.state.get("next_id", 0) == 0 and instance.state["open"] == {}
    assert logged in caplog.text


def test_commit_of_a_replaced_execution_writes_nothing(tmp_path: Path) -> None:
    store = Store(tmp_path)
    try:
        old = new_instance("chain", ["a"])
        store.create(
            old, NewMessage(old.instance_id, None, execution_started(old, datetime.now(UTC), None))
        )
        restarted = new_instance("chain", ["b"])
        restarted.execution_id = "e-2"
        store.create(
            restarted,
            NewMessage(
                old.instance_id, None, execution_started(restarted, datetime.now(UTC), None)
            ),
        )
        old.status = "Completed"
        stale = Commit(instance=old, history=[{"EventType": 0}], execution_id="e-1")
        assert store.commit(stale) is False
        row = store.get(old.instance_id)
        assert row is not None and (row.execution_id, row.status) == ("e-2", "Pending")
        assert store.history(old.instance_id) == []
        store.purge([old.instance_id])
        assert store.commit(Commit(instance=restarted)) is False
        assert store.get(old.instance_id) is None  # a purged instance is not revived
    finally:
        store.close()
