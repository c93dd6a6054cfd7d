"""Kill -9 at any point and start again on the same data dir: every instance resumes."""

from __future__ import annotations

import time
from pathlib import Path

from localrun.devhost_process import running_devhost
from tests.support.waiting import wait_until


def count(scratch: Path, name: str) -> int:
    path = scratch / f"{name}.count"
    return int(path.read_text()) if path.exists() else 0


def test_kill_mid_run_resumes_without_losing_or_repeating(
    tmp_path: Path, patterns_app: Path
) -> None:
    scratch = tmp_path / "scratch"
    env = {"PATTERNS_SCRATCH": str(scratch), "TICK_SCHEDULE": "0 0 0 1 1 *"}
    with running_devhost(patterns_app, data_dir=tmp_path / "data", env=env) as host:
        chain = host.start("long_chain", 5)
        timer = host.start("timer", 1.0)
        waiting = host.start("approval", 30)
        # Kill while step 3 is running (steps take 0.3 s each).
        wait_until(lambda: count(scratch, "step-3") == 1)
        wait_until(lambda: (host.status(waiting) or {}).get("runtimeStatus") == "Running")
        assert host.raise_event(waiting, "Approval", "before the crash") == 202
        host.kill()
        assert host.process is not None and host.process.returncode == -9

        host.restart()
        status = host.wait(chain, timeout=15)
        assert status["runtimeStatus"] == "Completed"
        assert status["output"] == [1, 2, 3, 4, 5]
        history = host.status(chain, history=True)["historyEvents"]  # type: ignore[index]
        completed = [e for e in history if e["EventType"] == "TaskCompleted"]
        assert len(completed) == 5
        # Steps finished before the kill ran once; the interrupted one at most twice.
        counts = [count(scratch, f"step-{n}") for n in range(1, 6)]
        assert counts[:2] == [1, 1] and counts[3:] == [1, 1]
        assert counts[2] in (1, 2)

        assert host.wait(timer, timeout=10)["runtimeStatus"] == "Completed"
        assert host.wait(waiting, timeout=10)["output"] == {"approved": '"before the crash"'}
        assert any("devhost listening on" in line for line in host.output())


def test_restart_again_after_completion_keeps_state(tmp_path: Path, patterns_app: Path) -> None:
    env = {"PATTERNS_SCRATCH": str(tmp_path / "scratch"), "TICK_SCHEDULE": "0 0 0 1 1 *"}
    with running_devhost(patterns_app, data_dir=tmp_path / "data", env=env) as host:
        done = host.start("chain", ["Once"])
        host.wait(done)
        assert host.stop() == 0  # SIGTERM is a clean stop
        host.start_process()
        status = host.status(done)
        assert status is not None and status["output"] == ["Hello Once"]


def test_repeated_kills_at_arbitrary_points(tmp_path: Path, patterns_app: Path) -> None:
    scratch = tmp_path / "scratch"
    env = {"PATTERNS_SCRATCH": str(scratch), "TICK_SCHEDULE": "0 0 0 1 1 *"}
    with running_devhost(patterns_app, data_dir=tmp_path / "data", env=env) as host:
        started = {
            "parent": host.start("parent"),
            "fan_out": host.start("fan_out", {"activity": "block", "seconds": 0.2, "n": 6}),
            "retrying": host.start(
                "retrying", {"key": "chaos", "succeed_on": 3, "interval_ms": 150, "attempts": 4}
            ),
            "counter": host.start("counter", 0),
        }
        for pause in (0.05, 0.15, 0.25):
            time.sleep(pause)
            host.restart()  # SIGKILL, then start on the same data dir
        results = {name: host.wait(i, timeout=15) for name, i in started.items()}
        assert {r["runtimeStatus"] for r in results.values()} == {"Completed"}
        assert results["parent"]["output"]["first"] == ["Hello Ann"]
        assert len(results["fan_out"]["output"]) == 6
        assert results["retrying"]["output"]["result"].startswith("ok after")
        assert results["counter"]["output"]["final"] == 3
