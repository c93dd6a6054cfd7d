"""The host side of the protocol, checked without a server: trigger input, IDs, failures."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from devhost.history import EventType
from devhost.indexer import AppIndex, index_app
from devhost.orchestration_runner import EpisodeRunner, execution_started
from devhost.store import Instance, Message

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
    start = Message(1, "i-1", None, 0.0, execution_started(instance, now))
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
    start = Message(1, "i-2", None, 0.0, execution_started(instance, now))
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
