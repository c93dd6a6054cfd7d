"""The tool calls of one step run at once and write their events out of slot order;
a watcher still gets every event once, in order, whenever it reads. Over real HTTP
(devhost, the emulator, Azurite), with a step whose first call is slow and whose
second is quick, so the second's events are written before the first's `finished`."""

from __future__ import annotations

from typing import Any

import requests

from durable_assistant.event_log import TableEventStore
from localrun.devhost_process import DevhostProcess
from tests.events.test_events_api import SSE, events_url, long_poll, read_frames
from tests.support.app_http import start_run, wait_until_finished

QUESTION = "Please pause slowly, then quickly."


def stored(run_log: TableEventStore, instance_id: str) -> list[tuple[int, str, Any]]:
    return [(e.seq, e.type.value, e.data) for e in run_log.read(instance_id, after=0, limit=1000)]


def calls_in_order(events: list[tuple[int, str, Any]]) -> list[tuple[str, str]]:
    return [
        (data["status"], data["arguments" if data["status"] == "started" else "output"])
        for _, kind, data in events
        if kind == "tool_call"
    ]


def test_a_long_poll_reader_between_out_of_order_tool_writes_misses_nothing(
    app: DevhostProcess, run_log: TableEventStore
) -> None:
    run = start_run(app.url, {"question": QUESTION, "backend": "responses"}).json()
    seen: list[tuple[int, str, Any]] = []
    after = 0
    for _ in range(500):  # reads often, so some land while the slow call still runs
        page = long_poll(app, run["id"], after=after, wait=1)
        seen += [(e["seq"], e["type"], e["data"]) for e in page["events"]]
        after = page["next"]
        if page["done"]:
            break
    status = wait_until_finished(app.url, run["id"])

    assert status["outcome"] == "completed"
    everything = stored(run_log, run["id"])
    statuses = [status for status, _ in calls_in_order(everything)]
    assert statuses == ["started", "finished", "started", "finished"]  # slot order
    assert seen == everything


def test_a_stream_between_out_of_order_tool_writes_misses_nothing(
    app: DevhostProcess, run_log: TableEventStore
) -> None:
    run = start_run(app.url, {"question": QUESTION, "backend": "assistants"}).json()
    with requests.get(events_url(app, run["id"]), headers=SSE, stream=True, timeout=60) as got:
        frames = read_frames(got)  # returns only once the server closed the stream
    wait_until_finished(app.url, run["id"])

    everything = stored(run_log, run["id"])
    assert [(int(f.id or -1), f.event, f.data) for f in frames] == everything
    assert everything[-1][1] == "end"
