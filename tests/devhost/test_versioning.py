"""Orchestration versioning: versions given at creation, kept for life, checked against
the worker's defaultVersion with the match and failure strategies of host.json."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from devhost.versioning import (
    FailureStrategy,
    MatchStrategy,
    Versioning,
    VersioningConfigError,
    compare_versions,
)
from localrun.devhost_process import DevhostProcess, running_devhost
from tests.support.devhost_apps import APPS
from tests.support.waiting import wait_until


def deploy(app_dir: Path, durable: dict[str, Any]) -> None:
    """Write the app's host.json, as a new deployment would."""
    host_json = {"version": "2.0", "extensions": {"durableTask": durable}}
    (app_dir / "host.json").write_text(json.dumps(host_json))


@pytest.fixture
def app_dir(tmp_path: Path) -> Path:
    target = tmp_path / "app"
    shutil.copytree(APPS / "versioning", target, ignore=shutil.ignore_patterns("__pycache__"))
    return target


def ship(host: DevhostProcess, parcel: str, version: str | None = None) -> str:
    params = {"version": version} if version else {}
    answer = requests.post(f"{host.url}/api/shipments", json=parcel, params=params, timeout=10)
    assert answer.status_code == 202, answer.text
    return answer.text


def wait_for_custom_status(host: DevhostProcess, instance_id: str, wanted: str) -> None:
    wait_until(
        lambda: (host.status(instance_id) or {}).get("customStatus") == wanted,
        timeout=30,
        what=f"custom status {wanted!r}",
    )


def wait_for_line(host: DevhostProcess, text: str) -> None:
    deadline = time.monotonic() + 30
    while not any(text in line for line in host.output()):
        assert time.monotonic() < deadline, f"no log line with {text!r}"
        time.sleep(0.05)


def test_old_instances_keep_their_branch_after_a_deploy(app_dir: Path, tmp_path: Path) -> None:
    deploy(app_dir, {"defaultVersion": "1.0"})
    with running_devhost(app_dir, data_dir=tmp_path / "data") as host:
        old = ship(host, "old parcel")
        wait_for_custom_status(host, old, "waiting for pickup")
        host.stop()
        deploy(app_dir, {"defaultVersion": "2.0"})
        host.start_process()
        new = ship(host, "new parcel")
        wait_for_custom_status(host, new, "waiting for pickup")
        for instance_id in (old, new):
            host.raise_event(instance_id, "PickedUp")
        finished_old = host.wait(old, timeout=30)
        finished_new = host.wait(new, timeout=30)
    assert finished_old["runtimeStatus"] == "Completed"
    assert finished_old["output"] == {
        "version": "1.0",
        "label": "paper label for old parcel",
        # Created after the deploy: today's defaultVersion, unless the caller pins one.
        "tracking_default": "2.0",
        "tracking_pinned": "0.9",
    }
    assert finished_new["output"] == {
        "version": "2.0",
        "label": "digital label for new parcel",
        "tracking_default": "2.0",
        "tracking_pinned": "0.9",
    }


def test_explicit_version_on_start_and_kept_across_continue_as_new(
    app_dir: Path, tmp_path: Path
) -> None:
    deploy(app_dir, {"defaultVersion": "2.0"})
    with running_devhost(app_dir, data_dir=tmp_path / "data") as host:
        pinned = ship(host, "pinned parcel", version="1.0")
        wait_for_custom_status(host, pinned, "waiting for pickup")
        looped = host.start("loop_twice", 0, version="1.5")
        looped_status = host.wait(looped, timeout=30)
        host.raise_event(pinned, "PickedUp")
        pinned_status = host.wait(pinned, timeout=30)
    assert pinned_status["output"]["version"] == "1.0"
    assert pinned_status["output"]["label"] == "paper label for pinned parcel"
    assert looped_status["output"] == {"round": 1, "version": "1.5"}


def test_without_default_version_instances_have_none(app_dir: Path, tmp_path: Path) -> None:
    deploy(app_dir, {})
    with running_devhost(app_dir, data_dir=tmp_path / "data") as host:
        instance_id = host.start("tracking")
        assert host.wait(instance_id, timeout=30)["output"] is None


def test_current_or_older_leaves_newer_instances_for_a_newer_worker(
    app_dir: Path, tmp_path: Path
) -> None:
    deploy(app_dir, {"defaultVersion": "2.0"})
    with running_devhost(app_dir, data_dir=tmp_path / "data") as host:
        newer = ship(host, "from the future", version="3.0")
        wait_for_line(host, f"instance {newer} (version '3.0') left for another worker")
        status = host.status(newer, history=True)
        assert status is not None
        assert status["runtimeStatus"] == "Pending"
        assert "historyEvents" not in status  # the extension shows none while Pending
        host.stop()
        deploy(app_dir, {"defaultVersion": "3.0"})
        host.start_process()
        wait_for_custom_status(host, newer, "waiting for pickup")
        host.raise_event(newer, "PickedUp")
        finished = host.wait(newer, timeout=30)
    assert finished["output"]["version"] == "3.0"
    assert finished["output"]["label"] == "digital label for from the future"


def test_strict_with_fail_fails_other_versions(app_dir: Path, tmp_path: Path) -> None:
    strict = {"versionMatchStrategy": "Strict", "versionFailureStrategy": "Fail"}
    deploy(app_dir, {"defaultVersion": "2.0", **strict})
    with running_devhost(app_dir, data_dir=tmp_path / "data") as host:
        older = ship(host, "older", version="1.0")
        failed = host.wait(older, timeout=30)
        same = ship(host, "same")
        wait_for_custom_status(host, same, "waiting for pickup")
        history = host.status(older, history=True)
    assert failed["runtimeStatus"] == "Failed"
    assert failed["output"] is None
    assert history is not None
    events = history["historyEvents"]
    assert [e["EventType"] for e in events] == ["ExecutionStarted", "ExecutionCompleted"]
    assert events[1]["OrchestrationStatus"] == "Failed"
    assert events[1]["FailureDetails"]["ErrorType"] == "VersionMismatch"


def test_versions_compare_as_durable_task_compares_them() -> None:
    assert compare_versions("1.0.0", "1.0.0") == 0
    assert compare_versions("1.1.0", "1.0.0") == 1
    assert compare_versions("1.0.0", "1.1.0") == -1
    assert compare_versions("1.10", "1.9") == 1  # numeric, both parse as System.Version
    assert compare_versions("1.0", "1.0.0") == -1  # .NET: a missing build number is -1
    assert compare_versions("10", "9") == -1  # one part is no System.Version: text order
    assert compare_versions("V1-release", "v1-RELEASE") == 0
    assert compare_versions("", "1") == -1
    assert compare_versions(None, "") == 0
    assert compare_versions("1", None) == 1


def test_strategies_from_host_json() -> None:
    default = Versioning.from_host_json({"defaultVersion": "2.0"})
    assert (default.match, default.failure) == (
        MatchStrategy.CURRENT_OR_OLDER,
        FailureStrategy.REJECT,
    )
    assert default.accepts("1.0") and default.accepts(None) and not default.accepts("2.1")
    strict = Versioning.from_host_json({"defaultVersion": "2.0", "versionMatchStrategy": "strict"})
    assert strict.accepts("2.0") and not strict.accepts("1.0") and not strict.accepts(None)
    anything = Versioning.from_host_json({"defaultVersion": "2.0", "versionMatchStrategy": "None"})
    assert anything.accepts("9.0")
    with pytest.raises(VersioningConfigError, match="versionFailureStrategy"):
        Versioning.from_host_json({"versionFailureStrategy": "Retry"})
