"""`GET /api/runs/{id}/events` over real HTTP (devhost, the emulator, Azurite): Server-Sent
Events and the JSON long-poll, resuming where the caller stopped, strict about input."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from durable_assistant.event_log import TableEventStore, text_of
from durable_assistant.events import EventType, StoredEvent
from emulator.testing import AdminClient
from localrun.devhost_process import DevhostProcess, running_devhost
from localrun.watch import watch
from tests.support.app_http import (
    REPO_ROOT,
    SEED_QUESTION,
    cancel_run,
    run_status,
    start_run,
    wait_until_finished,
)
from tests.support.waiting import wait_until

SSE = {"Accept": "text/event-stream"}


@dataclass
class Frame:
    id: str | None
    event: str | None
    data: Any


def read_frames(reply: requests.Response) -> list[Frame]:
    """Every event of a Server-Sent Events answer, until the server closes it."""
    frames: list[Frame] = []
    fields: dict[str, str] = {}
    for line in reply.iter_lines(decode_unicode=True):
        if line == "":
            if "data" in fields:
                frames.append(
                    Frame(fields.get("id"), fields.get("event"), json.loads(fields["data"]))
                )
            fields = {}
        elif not line.startswith(":"):
            name, _, value = line.partition(":")
            fields[name] = value.removeprefix(" ")
    return frames


def as_stored(frames: list[Frame]) -> list[StoredEvent]:
    return [
        StoredEvent(seq=int(f.id or -1), type=EventType(f.event or ""), data=f.data) for f in frames
    ]


def events_url(app: DevhostProcess, instance_id: str) -> str:
    return f"{app.url}/api/runs/{instance_id}/events"


def long_poll(app: DevhostProcess, instance_id: str, **params: Any) -> dict[str, Any]:
    reply = requests.get(events_url(app, instance_id), params=params, timeout=60)
    assert reply.status_code == 200, reply.text
    assert reply.headers["content-type"] == "application/json"
    body: dict[str, Any] = reply.json()
    return body


def all_pages(app: DevhostProcess, instance_id: str) -> list[dict[str, Any]]:
    """Every event, page by page (`next` into `after`), until `done`."""
    events: list[dict[str, Any]] = []
    after = 0
    for _ in range(200):
        page = long_poll(app, instance_id, after=after, wait=30)
        events += page["events"]
        assert page["next"] == (page["events"][-1]["seq"] if page["events"] else after)
        after = page["next"]
        if page["done"]:
            return events
    raise AssertionError("the long-poll never said done")


@pytest.mark.parametrize("backend", ["assistants", "responses"])
def test_a_run_watched_live_streams_every_event_and_closes_after_the_end(
    app: DevhostProcess, backend: str
) -> None:
    reply = start_run(app.url, {"question": SEED_QUESTION, "backend": backend})
    assert reply.status_code == 202, reply.text
    run = reply.json()
    assert run["links"]["events"] == events_url(app, run["id"])

    with requests.get(run["links"]["events"], headers=SSE, stream=True, timeout=60) as stream:
        assert stream.status_code == 200
        assert stream.headers["content-type"].startswith("text/event-stream")
        assert stream.headers["cache-control"] == "no-cache"
        frames = read_frames(stream)  # returns only once the server closed the stream

    status = wait_until_finished(app.url, run["id"])
    ids = [int(f.id or -1) for f in frames]
    assert ids == sorted(ids) and len(set(ids)) == len(ids) and min(ids) > 0
    assert {f.event for f in frames} <= {"phase", "tool_call", "text", "usage", "end"}
    assert frames[0].data["phase"] == "starting"
    assert frames[-1].event == "end" and frames[-1].data["answer"] == status["answer"]
    assert "".join(text_of(as_stored(frames))) == status["answer"]
    # The stream and the long-poll tell the same story.
    pages = all_pages(app, run["id"])
    assert [(e["seq"], e["type"], e["data"]) for e in pages] == [
        (int(f.id or -1), f.event, f.data) for f in frames
    ]


def test_a_stream_resumes_after_last_event_id_and_a_page_after_after(app: DevhostProcess) -> None:
    run = start_run(app.url, {"question": SEED_QUESTION}, wait=60).json()
    wait_until_finished(app.url, run["id"])  # the orchestration over: nothing can follow
    everything = all_pages(app, run["id"])
    assert len(everything) > 4
    cut = everything[3]["seq"]

    headers = {**SSE, "Last-Event-ID": str(cut)}
    with requests.get(events_url(app, run["id"]), headers=headers, stream=True, timeout=60) as got:
        resumed = read_frames(got)
    assert [int(f.id or -1) for f in resumed] == [e["seq"] for e in everything[4:]]

    page = long_poll(app, run["id"], after=cut)
    assert page["events"] == everything[4:] and page["done"] is True
    end = everything[-1]["seq"]
    assert long_poll(app, run["id"], after=end) == {"events": [], "next": end, "done": True}


def test_a_long_poll_answers_when_an_event_comes_or_the_wait_passes(
    app: DevhostProcess, model: AdminClient
) -> None:
    model.configure(latency_ms=60_000)  # the model "thinks" until the run is cancelled
    run = start_run(app.url, {"question": SEED_QUESTION, "backend": "assistants"}).json()
    seen: list[dict[str, Any]] = []

    def waiting_for_model() -> bool:
        seen.extend(long_poll(app, run["id"], after=seen[-1]["seq"] if seen else 0)["events"])
        return any(e["data"].get("phase") == "waiting_for_model" for e in seen)

    wait_until(waiting_for_model, timeout=30, what="the run waits for the model")
    last = seen[-1]["seq"]

    began = time.monotonic()
    quiet = long_poll(app, run["id"], after=last, wait=1)
    assert quiet == {"events": [], "next": last, "done": False}
    assert time.monotonic() - began >= 1  # it did wait

    assert cancel_run(app.url, run["id"], {"reason": "enough"}).status_code == 202
    woken = long_poll(app, run["id"], after=last, wait=60)  # answered by the next event
    assert woken["events"] and woken["events"][0]["seq"] > last
    rest = all_pages(app, run["id"])
    assert rest[-1]["type"] == "end" and rest[-1]["data"]["outcome"] == "cancelled"


@pytest.mark.parametrize(
    ("params", "headers", "field"),
    [
        ({"after": "-1"}, {}, "after"),
        ({"after": "1.5"}, {}, "after"),
        ({"after": "x"}, {}, "after"),
        ({"after": "9" * 16}, {}, "after"),
        ({"wait": "121"}, {}, "wait"),
        ({"wait": "soon"}, {}, "wait"),
        ({"since": "3"}, {}, "since"),
        ({}, {**SSE, "Last-Event-ID": "abc"}, "Last-Event-ID"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(
    app: DevhostProcess, params: dict[str, str], headers: dict[str, str], field: str
) -> None:
    run = start_run(app.url, {"question": SEED_QUESTION}, wait=60).json()
    reply = requests.get(events_url(app, run["id"]), params=params, headers=headers, timeout=10)
    assert reply.status_code == 400
    body = reply.json()
    assert body["error"] == "bad_request" and body["fields"] == [field]
    assert field in body["message"]


def test_an_unknown_run_is_a_404(app: DevhostProcess) -> None:
    for headers in ({}, SSE):
        reply = requests.get(events_url(app, "no-such-run"), headers=headers, timeout=10)
        assert reply.status_code == 404
        assert reply.json()["error"] == "not_found"


def test_the_purge_removes_a_runs_events_with_its_history(
    settings: dict[str, str], run_log: TableEventStore, tmp_path: Path
) -> None:
    retention = {**settings, "HISTORY_RETENTION_DAYS": "0.00001"}  # under a second
    with running_devhost(REPO_ROOT, data_dir=tmp_path / "devhost", env=retention) as host:
        run = start_run(host.url, {"question": SEED_QUESTION}, wait=60).json()
        assert run["done"] and run_log.read(run["id"], after=0, limit=10)
        wait_until_finished(host.url, run["id"])  # the purge leaves running instances
        time.sleep(1)  # past the retention
        purge = requests.post(
            f"{host.url}/admin/functions/purge_leftovers", json={"input": ""}, timeout=10
        )
        assert purge.status_code == 202

        wait_until(
            lambda: requests.get(events_url(host, run["id"]), timeout=10).status_code == 404,
            timeout=30,
            what="the run's history purged",
        )
        wait_until(
            lambda: run_log.read(run["id"], after=0, limit=10) == [],
            timeout=30,
            what="the run's events purged",
        )


def test_make_runs_watcher_prints_the_answer_while_the_model_writes_it(
    app: DevhostProcess, model: AdminClient
) -> None:
    # A turn's text is spread over its latency: the answer takes a second to write, so
    # its first piece comes well before the run's end is recorded (and the run done).
    model.configure(latency_ms=1000)
    run = start_run(app.url, {"question": SEED_QUESTION}).json()
    pieces: list[str] = []
    done_at_first_piece: list[bool] = []

    def on_text(piece: str) -> None:
        if not pieces:
            done_at_first_piece.append(run_status(app.url, run["id"])["done"])
        pieces.append(piece)

    end = watch(run["links"]["events"], on_text)

    assert end["outcome"] == "completed"
    assert "".join(pieces) == end["answer"] == wait_until_finished(app.url, run["id"])["answer"]
    assert len(pieces) > 1 and done_at_first_piece == [False]


def test_a_terminated_run_without_an_end_closes_the_stream_and_the_long_poll_is_done(
    app: DevhostProcess, model: AdminClient
) -> None:
    model.configure(latency_ms=60_000)  # the model "thinks" until the run is terminated
    run = start_run(app.url, {"question": SEED_QUESTION, "backend": "responses"}).json()
    wait_until(
        lambda: long_poll(app, run["id"])["events"], timeout=30, what="the run's first event"
    )
    terminated = requests.post(
        f"{app.webhook}/instances/{run['id']}/terminate", params={"reason": "test"}, timeout=10
    )
    assert terminated.status_code == 202
    wait_until(
        lambda: run_status(app.url, run["id"])["runtime_status"] == "Terminated",
        timeout=30,
        what="the run terminated",
    )

    with requests.get(events_url(app, run["id"]), headers=SSE, stream=True, timeout=60) as got:
        frames = read_frames(got)  # returns only once the server closed the stream
    assert frames and all(f.event != "end" for f in frames)
    last = int(frames[-1].id or -1)
    assert long_poll(app, run["id"], after=last, wait=30) == {
        "events": [],
        "next": last,
        "done": True,
    }
