"""Streams end after `EVENTS_STREAM_SECONDS`; a client that reconnects with
`Last-Event-ID` gets every event of the run once, in order, however often it has to.
Over real HTTP (devhost with a one-second stream limit, the emulator, Azurite)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from durable_assistant.event_log import TableEventStore
from emulator.testing import AdminClient
from localrun.devhost_process import DevhostProcess, running_devhost
from localrun.watch import watch
from tests.events.test_events_api import SSE, Frame, events_url, read_frames
from tests.support.app_http import REPO_ROOT, SEED_QUESTION, start_run, wait_until_finished


@pytest.fixture
def short_streams(
    settings: dict[str, str], model: AdminClient, tmp_path: Path
) -> Iterator[DevhostProcess]:
    """The app with streams of one second, and model turns of 2.5 s: a run outlasts
    several streams, and some streams end with no event at all."""
    model.configure(latency_ms=2_500)
    env = {**settings, "EVENTS_STREAM_SECONDS": "1"}
    with running_devhost(REPO_ROOT, data_dir=tmp_path / "devhost", env=env) as host:
        yield host


def test_a_client_reconnecting_with_last_event_id_gets_every_event_once(
    short_streams: DevhostProcess, run_log: TableEventStore
) -> None:
    run = start_run(short_streams.url, {"question": SEED_QUESTION, "backend": "responses"}).json()
    frames: list[Frame] = []
    connections = 0
    while not frames or frames[-1].event != "end":
        assert connections < 60, "the stream never reached the end"
        headers = {**SSE, "Last-Event-ID": frames[-1].id or ""} if frames else SSE
        with requests.get(
            events_url(short_streams, run["id"]), headers=headers, stream=True, timeout=30
        ) as reply:
            assert reply.status_code == 200
            frames += read_frames(reply)  # until the server closes the stream
        connections += 1
    status = wait_until_finished(short_streams.url, run["id"])

    assert connections > 2  # the run outlasted several streams
    stored = run_log.read(run["id"], after=0, limit=1000)
    assert [(int(f.id or -1), f.event, f.data) for f in frames] == [
        (e.seq, e.type.value, e.data) for e in stored
    ]
    assert frames[-1].data["answer"] == status["answer"]


def test_make_runs_watcher_goes_on_across_streams_to_the_end(
    short_streams: DevhostProcess,
) -> None:
    run = start_run(short_streams.url, {"question": SEED_QUESTION}).json()
    pieces: list[str] = []

    end = watch(run["links"]["events"], pieces.append)

    assert end["outcome"] == "completed"
    assert (
        "".join(pieces)
        == end["answer"]
        == wait_until_finished(short_streams.url, run["id"])["answer"]
    )
