"""Runs of the real app (devhost, the emulator, Azurite) leave an ordered event log
with every event once: through a model call retried by the host after its write, and
through a host killed in the middle of a tool call."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from durable_assistant.event_log import TableEventStore, text_of
from durable_assistant.events import StoredEvent
from emulator.testing import AdminClient
from localrun.devhost_process import DevhostProcess, running_devhost
from tests.support.app_http import (
    REPO_ROOT,
    SEED_QUESTION,
    run_to_end,
    start_run,
    wait_until_finished,
)

SUBMIT_ROUTE = "POST /threads/{thread_id}/runs/{run_id}/submit_tool_outputs"


def summary(events: Sequence[StoredEvent]) -> list[tuple[str, Any]]:
    """Each event as (type, what it says), in log order."""
    out: list[tuple[str, Any]] = []
    for e in events:
        data = e.data
        if e.type.value == "phase":
            out.append(("phase", data["phase"]))
        elif e.type.value == "tool_call":
            out.append(("tool_call", (data["status"], data["name"])))
        elif e.type.value == "end":
            out.append(("end", data["outcome"]))
        else:
            out.append((e.type.value, None))
    return out


def assert_ordered_once(events: Sequence[StoredEvent]) -> None:
    seqs = [e.seq for e in events]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    calls = Counter(
        (e.data["call_id"], e.data["status"]) for e in events if e.type.value == "tool_call"
    )
    assert set(calls.values()) <= {1}, calls
    assert [e.type.value for e in events].count("end") == 1
    assert events[-1].type.value == "end"


@pytest.mark.parametrize("backend", ["assistants", "responses"])
def test_a_seed_run_logs_its_phases_tools_usage_and_end_in_order(
    app: DevhostProcess, model: AdminClient, run_log: TableEventStore, backend: str
) -> None:
    result = run_to_end(app.url, SEED_QUESTION, backend)

    instance_id = result["id"]

    events = run_log.read(instance_id, after=0, limit=1000)

    assert_ordered_once(events)
    phases = [what for kind, what in summary(events) if kind == "phase"]
    assert phases[0] == "starting" and phases[-1] == "tearing_down"
    assert phases.count("running_tools") == phases.count("submitting") == 2
    tools = [what for kind, what in summary(events) if kind == "tool_call"]
    assert tools == [
        ("started", "my_cat_born_date"),
        ("finished", "my_cat_born_date"),
        ("started", "get_flights"),
        ("finished", "get_flights"),
    ]
    assert any(e.type.value == "usage" for e in events)
    end = events[-1].data
    assert (end["outcome"], end["answer"]) == ("completed", result["answer"])
    # The answer also came as text while the model wrote it, before the end.
    assert "".join(text_of(events)) == result["answer"]
    first_text = next(i for i, e in enumerate(events) if e.type.value == "text")
    assert first_text < len(events) - 1
    assert end["usage"]["total_tokens"] == result["usage"]["total_tokens"] > 0


def test_a_model_call_the_host_retries_after_its_write_logs_its_events_once(
    app: DevhostProcess, model: AdminClient, run_log: TableEventStore
) -> None:
    # OPENAI_MAX_RETRIES=1: two 500s fail the first submit activity after it wrote its
    # "submitting" phase; the host retries the activity, whose first request fails too.
    submits_before = model.counts()["requests"].get(SUBMIT_ROUTE, 0)
    model.configure(faults=[{"fault": "500", "count": 3, "route": SUBMIT_ROUTE}])
    reply = start_run(app.url, {"question": SEED_QUESTION, "backend": "assistants"}, wait=90)
    assert reply.status_code == 200, reply.text
    assert reply.json()["outcome"] == "completed"
    submits = model.counts()["requests"][SUBMIT_ROUTE] - submits_before
    assert submits == 3 + 2  # 3 failed (the first activity attempt's two among them), 2 went

    events = run_log.read(reply.json()["id"], after=0, limit=1000)

    assert_ordered_once(events)
    phases = [what for kind, what in summary(events) if kind == "phase"]
    assert phases.count("submitting") == 2


def test_a_host_killed_in_a_tool_call_logs_every_event_once(
    settings: dict[str, str],
    model: AdminClient,
    run_log: TableEventStore,
    tmp_path: Path,
) -> None:
    with running_devhost(REPO_ROOT, data_dir=tmp_path / "devhost", env=settings) as host:
        reply = start_run(host.url, {"question": "Please pause twice.", "backend": "responses"})
        assert reply.status_code == 202, reply.text
        instance_id = reply.json()["id"]
        deadline = time.monotonic() + 30
        while not any(
            what == ("started", "pause")
            for _, what in summary(run_log.read(instance_id, after=0, limit=1000))
        ):
            assert time.monotonic() < deadline, "no tool call started"
            time.sleep(0.05)
        host.kill()  # in the middle of the one-second pauses
        host.start_process()
        status = wait_until_finished(host.url, instance_id, timeout=60)
    assert status["outcome"] == "completed"

    events = run_log.read(instance_id, after=0, limit=1000)

    assert_ordered_once(events)
    tools = [what for kind, what in summary(events) if kind == "tool_call"]
    assert sorted(tools) == [("finished", "pause")] * 2 + [("started", "pause")] * 2
    assert events[-1].data["answer"] == status["answer"]
