"""An event store that holds or fails its first write: for tests of what an
activity does while its events are on their way to storage."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import datetime

from durable_assistant.event_log import EventStore
from durable_assistant.events import StoredEvent


class HeldStore:
    """`inner`, with its `held`-th write (the first by default) held until `release`
    is set (or failing, with `fail_first`); `writes` notes what each write stored, in
    the order they ended."""

    def __init__(self, inner: EventStore, *, fail_first: bool = False, held: int = 1) -> None:
        self.inner = inner
        self.release = threading.Event()
        self.holding = threading.Event()  # set once the held write waits
        self.fail_first = fail_first
        self.held = held
        self.writes: list[list[str | None]] = []
        self._calls = 0
        self._lock = threading.Lock()

    def write(self, instance_id: str, events: Sequence[StoredEvent], *, first: bool) -> None:
        with self._lock:
            self._calls += 1
            call = self._calls
        if call == self.held:
            if self.fail_first:
                raise ConnectionError("the table service went away")
            self.holding.set()
            if not self.release.wait(10):
                raise TimeoutError("the first write was never released")
        self.inner.write(instance_id, events, first=first)
        with self._lock:
            self.writes.append([e.data.get("phase") or e.data.get("status") for e in events])

    def read(self, instance_id: str, after: int, limit: int) -> list[StoredEvent]:
        return self.inner.read(instance_id, after, limit)

    def runs_started_before(self, cutoff: datetime) -> list[str]:
        return self.inner.runs_started_before(cutoff)

    def delete_run(self, instance_id: str) -> int:
        return self.inner.delete_run(instance_id)
