"""Timer triggers (NCRONTAB with %SETTING%, run_on_startup) and the admin endpoint."""

from __future__ import annotations

import itertools
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests

from devhost.config import expand_settings
from devhost.timer_triggers import Schedule
from localrun.devhost_process import DevhostProcess, running_devhost
from tests.support.waiting import wait_until

APPS = Path(__file__).parent / "apps"


def test_ticker_runs_every_second_from_app_setting(host: DevhostProcess, scratch: Path) -> None:
    ticks = scratch / "ticks.log"
    before = len(ticks.read_text().split()) if ticks.exists() else 0
    wait_until(lambda: len(ticks.read_text().split()) >= before + 2, what="two ticks")
    stamps = [float(t) for t in ticks.read_text().split()][before:]
    assert len(stamps) >= 2
    # Fired on whole seconds (NCRONTAB */1 in the seconds field).
    assert all(s % 1 < 0.5 for s in stamps)
    assert all(0.7 < b - a < 1.3 for a, b in itertools.pairwise(stamps))


def test_admin_endpoint_runs_timer_with_durable_client(host: DevhostProcess) -> None:
    response = requests.post(f"{host.url}/admin/functions/nightly", json={"input": ""}, timeout=10)
    assert response.status_code == 202
    wait_until(lambda: host.status("nightly-1") is not None)
    assert host.wait("nightly-1")["output"] == ["Hello Night"]


def test_admin_endpoint_unknown_function(host: DevhostProcess) -> None:
    response = requests.post(f"{host.url}/admin/functions/nope", json={}, timeout=10)
    assert response.status_code == 404


def test_schedule_parsing() -> None:
    start = datetime(2026, 1, 1, 0, 0, 1, tzinfo=UTC)
    assert Schedule("*/5 * * * * *").next_after(start) == datetime(2026, 1, 1, 0, 0, 5, tzinfo=UTC)
    assert Schedule("0 30 2 * * *").next_after(start) == datetime(2026, 1, 1, 2, 30, tzinfo=UTC)
    assert Schedule("00:00:10").next_after(start) == datetime(2026, 1, 1, 0, 0, 11, tzinfo=UTC)
    with pytest.raises(ValueError, match="six fields"):
        Schedule("*/5 * * * *")


def test_setting_expansion() -> None:
    assert expand_settings("%A%-%B%", {"A": "x", "B": "y"}) == "x-y"
    with pytest.raises(KeyError):
        expand_settings("%MISSING%", {})


def test_run_on_startup_prefix_and_context(tmp_path: Path) -> None:
    marker = tmp_path / "started.txt"
    with running_devhost(
        APPS / "minimal", data_dir=tmp_path / "data", env={"MINIMAL_MARKER": str(marker)}
    ) as minimal:
        deadline = time.monotonic() + 10
        # The function creates the file, then writes it: wait for the text.
        while not (marker.exists() and marker.read_text()):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert marker.read_text() == "past_due=False"
        response = requests.get(f"{minimal.url}/v1/hello", timeout=10)
        assert response.text == "hello from hello"
        assert requests.get(f"{minimal.url}/api/hello", timeout=10).status_code == 404
    assert minimal.process is not None and minimal.process.returncode == 0
    assert any("Executed 'on_startup' (Succeeded" in line for line in minimal.output())
