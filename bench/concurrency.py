"""How many runs a minute one host serves, by its activity concurrency limit.

`python -m bench.concurrency [RUNS] [LIMITS] [LATENCY_MS]`, e.g. `12 2,5,10,20 300-900`.

For each limit, the app is copied with `host.json`'s maxConcurrentActivityFunctions and
maxConcurrentOrchestratorFunctions set to it, served by devhost on the local stack
(the emulator's fan-out script: one step of four 0.5 s tool calls, then the answer),
and RUNS fan-out runs are started at once after a warm-up run. The limits are measured
side by side in one invocation; docs/deploy.md says what the numbers chose.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

from bench.scenarios import FANOUT, SCRIPT_FILES
from localrun.stack import running_stack

REPO_ROOT = Path(__file__).resolve().parents[1]
APP_PARTS = [
    "function_app.py",
    "activities",
    "orchestrators",
    "triggers",
    "durable_assistant",
    "bench",
    "localrun",
]


def app_with_limit(where: Path, limit: int) -> Path:
    """A copy of the app whose host.json admits `limit` activities and orchestrations."""
    app = where / f"app-{limit}"
    app.mkdir()
    for name in APP_PARTS:
        source = REPO_ROOT / name
        if source.is_dir():
            shutil.copytree(source, app / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(source, app / name)
    host = json.loads((REPO_ROOT / "host.json").read_text(encoding="utf-8"))
    durable = host["extensions"]["durableTask"]
    durable["maxConcurrentActivityFunctions"] = limit
    durable["maxConcurrentOrchestratorFunctions"] = limit
    (app / "host.json").write_text(json.dumps(host), encoding="utf-8")
    return app


def one_run(url: str) -> float:
    """Seconds one fan-out run takes, checked for the right answer."""
    started = time.monotonic()
    reply = requests.post(
        f"{url}/api/runs",
        params={"wait": 120},
        json={"question": FANOUT.question, "tools": FANOUT.tool_names},
        timeout=200,
    )
    reply.raise_for_status()
    if not FANOUT.check(reply.json()["answer"]):
        raise AssertionError(f"wrong answer: {reply.json()}")
    return time.monotonic() - started


def measure(runs: int, limit: int, latency_ms: str, where: Path) -> str:
    app = app_with_limit(where, limit)
    overrides = {"TASKHUB_NAME": f"conc{limit}", "TOOL_MODULES": "bench.slow_tools"}
    with running_stack(
        where / f"data-{limit}", overrides=overrides, scripts=SCRIPT_FILES, app_dir=app
    ) as stack:
        stack.emulator.configure(latency_ms=latency_ms)
        one_run(stack.app.url)  # warm-up: imports, clients, the task hub
        started = time.monotonic()
        with ThreadPoolExecutor(runs) as pool:
            times = sorted(pool.map(lambda _: one_run(stack.app.url), range(runs)))
        wall = time.monotonic() - started
    return (
        f"limit {limit:>2}: wall {wall:5.1f} s, median run {times[len(times) // 2]:5.1f} s,"
        f" {runs / wall * 60:6.1f} runs/min"
    )


def main(argv: list[str]) -> None:
    runs = int(argv[0]) if argv else 12
    limits = [int(x) for x in (argv[1] if len(argv) > 1 else "2,5,10,20").split(",")]
    latency_ms = argv[2] if len(argv) > 2 else "300-900"
    print(
        f"{runs} fan-out runs at once ({FANOUT.summary}); model latency {latency_ms} ms/turn",
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="bench-concurrency-") as tmp:
        for limit in limits:
            print(measure(runs, limit, latency_ms, Path(tmp)), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
