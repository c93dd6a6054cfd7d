"""How long the model's first text takes to reach a watcher of the run's events.

`python -m bench.first_text` runs the seed question on each backend, watches every
run with Server-Sent Events (`GET /api/runs/{id}/events`), and prints how long after
the emulator sent its first text delta the first `text` event reached the watcher:
emulator → the model activity following the turn → the run event log (Azurite) →
the events route → the client.

The emulator runs in this process (a thread), so the time it sends a delta and the
time the watcher reads it are on one clock; devhost and Azurite are processes, as in
`make run`.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import requests

from emulator import streaming
from emulator.testing import running_emulator
from localrun.azurite import REPO_ROOT
from localrun.devhost_process import running_devhost
from localrun.stack import SEED_QUESTION, app_settings, running_azurite
from localrun.watch import sse_events

KEY = "bench-first-text-key"
TEXT_DELTAS = ("response.output_text.delta", "thread.message.delta")


class DeltaClock:
    """When the emulator framed each text delta (monotonic seconds)."""

    def __init__(self) -> None:
        self.sent: list[float] = []
        self._lock = threading.Lock()

    def first_after(self, moment: float) -> float | None:
        with self._lock:
            return next((t for t in self.sent if t >= moment), None)

    @contextmanager
    def watching(self) -> Iterator[None]:
        """Time every text delta the emulator frames while the block runs."""
        original = streaming.frame

        def timed(event: str, data: Any) -> bytes:
            if event in TEXT_DELTAS:
                with self._lock:
                    self.sent.append(time.monotonic())
            return original(event, data)

        streaming.frame = timed
        try:
            yield
        finally:
            streaming.frame = original


def one_run(base_url: str, backend: str, clock: DeltaClock) -> float | None:
    """Seconds from the emulator's first text delta to the watcher's first text event."""
    began = time.monotonic()
    reply = requests.post(
        f"{base_url}/api/runs", json={"question": SEED_QUESTION, "backend": backend}, timeout=30
    )
    reply.raise_for_status()
    url = reply.json()["links"]["events"]
    arrived: float | None = None
    with requests.get(url, headers={"Accept": "text/event-stream"}, stream=True, timeout=60) as got:
        for event in sse_events(got):
            if event.type.value == "text" and arrived is None:
                arrived = time.monotonic()
            if event.type.value == "end":
                break
    sent = clock.first_after(began)
    return None if arrived is None or sent is None else arrived - sent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.first_text", description=__doc__)
    parser.add_argument("--runs", type=int, default=5, help="runs per backend (default 5)")
    parser.add_argument("--turn-ms", type=int, default=1500, help="model time per turn")
    args = parser.parse_args(argv)

    clock = DeltaClock()
    data_dir = Path(tempfile.mkdtemp(prefix="bench-first-text-"))
    with (
        clock.watching(),
        running_azurite() as storage,
        running_emulator(api_key=KEY, latency_ms=args.turn_ms) as model,
        running_devhost(
            REPO_ROOT,
            data_dir=data_dir / "devhost",
            env=app_settings(storage, model.url, AZURE_OPENAI_API_KEY=KEY),
        ) as app,
    ):
        print(f"first text delta → SSE client, {args.turn_ms} ms per model turn")
        for backend in ("responses", "assistants"):
            one_run(app.url, backend, clock)  # warm-up: imports, tables, connections
            lags = [one_run(app.url, backend, clock) for _ in range(args.runs)]
            got = sorted(lag * 1000 for lag in lags if lag is not None)
            missing = len(lags) - len(got)
            if not got:
                print(f"{backend:>10}: no text event reached the client ({missing} runs)")
                continue
            print(
                f"{backend:>10}: median {statistics.median(got):.0f} ms, "
                f"max {got[-1]:.0f} ms over {len(got)} runs"
                + (f" ({missing} without text)" if missing else "")
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
