"""The run event log in Table storage: written by activities, read by the events API.

Layout (one table, `EVENTS_TABLE_NAME`, in the ledger's storage account): one
partition per run (PartitionKey = the instance id, escaped like the ledger's keys),
one row per write, keyed by the highest sequence number in it
(`durable_assistant.event_rows`). A write is one plain upsert under a key known in
advance, never a read first; a read is one range query.

The run's first write also notes the run for the purge: its row has `instance_id`
and `started_at`, and the purge finds old runs by a query on `started_at`. Earlier
versions noted runs in a row of their own (RowKey `!run` in the run's partition, or
in a partition `~runs`); the purge finds and removes those too.

Deterministic sequence numbers make a retried activity, or one re-run after a host
died, write the same events again, which a read keeps once (see
`durable_assistant.events` and `durable_assistant.event_rows`).

Readers in the same process are woken by the writer at once; other processes (the
HTTP trigger on another instance) see new rows at their next poll, `POLL_SECONDS`.
Without any storage setting the log lives in memory (one local process only).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import threading
import time
from collections.abc import Callable, Collection, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from azure.core.exceptions import ResourceExistsError
from azure.data.tables import TableClient, TableTransactionError, UpdateMode

from durable_assistant.event_rows import Row, events_in, row_key, rows_of, transactions_of
from durable_assistant.events import (
    MAX_TEXT_EVENTS_PER_SLOT,
    SLOT_SIZE,
    TEXT_CHARS,
    EventSlot,
    EventType,
    RunEvent,
    StoredEvent,
    readable,
    sequence_number,
    text_event,
)
from durable_assistant.ledger import BATCH_LIMIT, table_key

logger = logging.getLogger(__name__)

RUN_ROW = "!run"  # sorts before every zero-padded sequence number
LEGACY_RUNS_PARTITION = "~runs"  # an escaped instance id never starts with `~`
READ_LIMIT = 1_000
POLL_SECONDS = 0.25
TEXT_INTERVAL_SECONDS = 0.1
WRITER_THREADS = 32  # one write at a time per run: as many runs at once as activities


def _utcnow() -> datetime:
    return datetime.now(UTC)


class EventStore(Protocol):
    """Where events are kept: Table storage, or memory when none is configured."""

    def write(self, instance_id: str, events: Sequence[StoredEvent], *, first: bool) -> None:
        """Upsert `events` (one partition); `first` also notes the run for the purge."""
        ...

    def read(self, instance_id: str, after: int, limit: int) -> list[StoredEvent]:
        """Up to `limit` events with a sequence number above `after`, in order."""
        ...

    def runs_started_before(self, cutoff: datetime) -> list[str]:
        """Instance ids of runs whose first event was written before `cutoff`."""
        ...

    def delete_run(self, instance_id: str) -> int:
        """Remove a run's events and its run row; how many events there were."""
        ...


class TableEventStore:
    """`EventStore` on Azure Table storage. Thread-safe; one per process."""

    def __init__(self, table: TableClient, *, clock: Callable[[], datetime] = _utcnow) -> None:
        self._table = table
        self._clock = clock
        self._lock = threading.Lock()
        self._table_ready = False

    @property
    def table_name(self) -> str:
        return self._table.table_name

    def ensure_table(self) -> None:
        """Create the table if it is missing (once per process)."""
        if self._table_ready:
            return
        with self._lock:
            if not self._table_ready:
                with contextlib.suppress(ResourceExistsError):
                    self._table.create_table()
                self._table_ready = True

    def write(self, instance_id: str, events: Sequence[StoredEvent], *, first: bool) -> None:
        self.ensure_table()
        now = self._clock()
        partition = table_key(instance_id)
        rows = rows_of(events)
        if not rows:
            return
        # The first write's row notes the run for the purge (a retried first write
        # stamps it again, seconds later: the purge's cutoff is days).
        marks = {"instance_id": instance_id, "started_at": now} if first else {}

        def entity(row: Row) -> dict[str, Any]:
            return row.entity(partition, now, **(marks if row is rows[0] else {}))

        if len(rows) == 1:  # the usual write: one plain upsert
            self._table.upsert_entity(entity(rows[0]), mode=UpdateMode.REPLACE)
            return
        for group in transactions_of(rows):
            self._table.submit_transaction(
                [("upsert", entity(row), {"mode": UpdateMode.REPLACE}) for row in group]
            )

    def read(self, instance_id: str, after: int, limit: int) -> list[StoredEvent]:
        # Every row holding an event past `after` has a key past it (a row's key is
        # its highest sequence number); such rows may hold earlier events too.
        self.ensure_table()
        entities = self._table.query_entities(
            "PartitionKey eq @pk and RowKey gt @after",
            parameters={"pk": table_key(instance_id), "after": row_key(max(after, 0))},
            results_per_page=1_000,
        )
        return [event for event in events_in(entities) if event.seq > after][:limit]

    def runs_started_before(self, cutoff: datetime) -> list[str]:
        # The rows that note runs: a first write's row, or in earlier layouts the
        # run's `!run` row or its row in the `~runs` partition.
        self.ensure_table()
        rows = self._table.query_entities(
            "started_at lt @cutoff",
            parameters={"cutoff": cutoff.astimezone(UTC)},
            select=["instance_id"],
        )
        return list(dict.fromkeys(str(row["instance_id"]) for row in rows))

    def delete_run(self, instance_id: str) -> int:
        self.ensure_table()
        partition = table_key(instance_id)
        rows = list(
            self._table.query_entities(
                "PartitionKey eq @pk", parameters={"pk": partition}, select=["RowKey", "count"]
            )
        )
        keys = [str(row["RowKey"]) for row in rows]
        for start in range(0, len(keys), BATCH_LIMIT):
            batch = [
                ("delete", {"PartitionKey": partition, "RowKey": key})
                for key in keys[start : start + BATCH_LIMIT]
            ]
            try:
                self._table.submit_transaction(batch)
            except TableTransactionError:
                # A row went meanwhile (two purges at once): delete one by one.
                for _, entity in batch:
                    self._table.delete_entity(entity["PartitionKey"], entity["RowKey"])
        self._table.delete_entity(LEGACY_RUNS_PARTITION, partition)  # missing: no error
        # An earlier layout's row is one event (its `!run` row none).
        return sum(int(row.get("count") or 1) for row in rows if row["RowKey"] != RUN_ROW)


class MemoryEventStore:
    """`EventStore` in this process's memory: for runs without storage, and tests."""

    def __init__(self, clock: Callable[[], datetime] = _utcnow) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._events: dict[str, dict[int, StoredEvent]] = {}
        self._started: dict[str, datetime] = {}

    def write(self, instance_id: str, events: Sequence[StoredEvent], *, first: bool) -> None:
        with self._lock:
            if first:
                self._started.setdefault(instance_id, self._clock())
            run = self._events.setdefault(instance_id, {})
            for event in events:
                run[event.seq] = event

    def read(self, instance_id: str, after: int, limit: int) -> list[StoredEvent]:
        with self._lock:
            run = self._events.get(instance_id, {})
            return [run[seq] for seq in sorted(run) if seq > after][:limit]

    def runs_started_before(self, cutoff: datetime) -> list[str]:
        with self._lock:
            return [run for run, started in self._started.items() if started < cutoff]

    def delete_run(self, instance_id: str) -> int:
        with self._lock:
            self._started.pop(instance_id, None)
            return len(self._events.pop(instance_id, {}))


@dataclass(frozen=True, eq=False)
class _Listener:
    """One waiter of this process for writes of one run (of `types`, or any); `seen`,
    when given, is handed the stored events (in the waiter's loop) before the wake."""

    loop: asyncio.AbstractEventLoop
    written: asyncio.Event
    types: frozenset[EventType] | None
    seen: Callable[[list[StoredEvent]], None] | None = None

    def wake(self, events: list[StoredEvent]) -> None:
        """Called in the waiter's loop."""
        if self.seen is not None:
            self.seen(events)
        self.written.set()


@dataclass
class EndWatch:
    """Set when this process stores the run's end, which `end` then holds (so a
    waiter has it without reading the log)."""

    written: asyncio.Event = field(default_factory=asyncio.Event)
    end: StoredEvent | None = None

    def see(self, events: list[StoredEvent]) -> None:
        for event in events:
            if event.type is EventType.END:
                self.end = event


@dataclass
class _Queued:
    """Events waiting for their run's next write, and who waits for them."""

    events: list[StoredEvent]
    first: bool
    done: Future[None]
    context: contextvars.Context  # the writing activity's, for the write's trace spans


class RunEvents:
    """The process's event log: writes that wake this process's readers, and reads
    that wait for the next event.

    A run's writes go one at a time, each taking everything this process queued for
    the run while the one before was on its way, in one batch transaction: the tool
    calls of a step, which all start and end at about the same time, share a few
    requests instead of making one each, and no write waits longer than the one
    before it took.
    """

    def __init__(self, store: EventStore, *, writers: int = WRITER_THREADS) -> None:
        self.store = store
        self._listeners: dict[str, set[_Listener]] = {}
        self._lock = threading.Lock()
        self._queued: dict[str, list[_Queued]] = {}  # a run in here has a write going
        self._writers = ThreadPoolExecutor(max_workers=writers, thread_name_prefix="event-log")

    def write(self, instance_id: str, events: Sequence[StoredEvent], *, first: bool) -> None:
        """Store `events` and wake the readers of this run in this process; raises
        when storage fails. `first` also notes the run for the purge."""
        self.write_soon(instance_id, events, first=first).result()

    def write_soon(
        self, instance_id: str, events: Sequence[StoredEvent], *, first: bool
    ) -> Future[None]:
        """Queue `events` for the run's next write; the future ends when they are
        stored (or with the storage error)."""
        queued = _Queued(list(events), first, Future(), contextvars.copy_context())
        with self._lock:
            waiting = self._queued.get(instance_id)
            if waiting is not None:
                waiting.append(queued)
                return queued.done
            self._queued[instance_id] = [queued]
        self._writers.submit(self._write_queued, instance_id)
        return queued.done

    def _write_queued(self, instance_id: str) -> None:
        """Write the run's queued events, a batch at a time, until none are left."""
        while True:
            with self._lock:
                waiting = self._queued[instance_id]
                if not waiting:
                    del self._queued[instance_id]
                    return
                size = 0
                taken = 0
                while taken < len(waiting) and (
                    taken == 0 or size + len(waiting[taken].events) <= BATCH_LIMIT
                ):
                    size += len(waiting[taken].events)
                    taken += 1
                batch = waiting[:taken]
                del waiting[:taken]
            self._store(instance_id, batch)

    def _store(self, instance_id: str, batch: list[_Queued]) -> None:
        # One row per key: a transaction may not touch an entity twice (a tool's
        # `finished` and the next activity's copy of it may meet here).
        rows = {event.seq: event for queued in batch for event in queued.events}
        first = any(queued.first for queued in batch)
        try:
            batch[0].context.run(self.store.write, instance_id, list(rows.values()), first=first)
        except Exception as error:
            for queued in batch:
                queued.done.set_exception(error)
            return
        for queued in batch:
            queued.done.set_result(None)
        self._wake(instance_id, list(rows.values()))

    def _wake(self, instance_id: str, events: list[StoredEvent]) -> None:
        """Tell this process's listeners of the run that `events` are stored."""
        with self._lock:
            listeners = list(self._listeners.get(instance_id, ()))
        types = {event.type for event in events}
        for listener in listeners:
            if listener.types is None or not listener.types.isdisjoint(types):
                with contextlib.suppress(RuntimeError):  # its loop closed meanwhile
                    listener.loop.call_soon_threadsafe(listener.wake, events)

    @contextlib.contextmanager
    def listening(
        self, instance_id: str, types: Collection[EventType] | None = None
    ) -> Iterator[asyncio.Event]:
        """An asyncio event, set (in the running loop) each time this process stores
        events of the run (one of `types`, when given) while the block runs; writes
        of other processes are only seen by reading the store."""
        listener = _Listener(
            asyncio.get_running_loop(), asyncio.Event(), None if types is None else frozenset(types)
        )
        with self._listener(instance_id, listener):
            yield listener.written

    @contextlib.contextmanager
    def end_written(self, instance_id: str) -> Iterator[EndWatch]:
        """A watch of the run's end while the block runs: set (in the running loop)
        when this process stores it, with the end event at hand."""
        watch = EndWatch()
        listener = _Listener(
            asyncio.get_running_loop(), watch.written, frozenset({EventType.END}), watch.see
        )
        with self._listener(instance_id, listener):
            yield watch

    @contextlib.contextmanager
    def _listener(self, instance_id: str, listener: _Listener) -> Iterator[None]:
        with self._lock:
            self._listeners.setdefault(instance_id, set()).add(listener)
        try:
            yield
        finally:
            with self._lock:
                listeners = self._listeners.get(instance_id)
                if listeners is not None:
                    listeners.discard(listener)
                    if not listeners:
                        del self._listeners[instance_id]

    async def next_events(
        self,
        instance_id: str,
        after: int,
        wait_seconds: float,
        *,
        limit: int = READ_LIMIT,
        poll_seconds: float = POLL_SECONDS,
        complete: bool = False,
    ) -> list[StoredEvent]:
        """Events after `after` that no later write can precede (see
        `events.readable`): at once if there are any, else as soon as one is written,
        or an empty list when `wait_seconds` pass. `complete`: the run is over, so
        nothing more will be written and every stored event is readable.

        A write in this process wakes the reader at once (no polling in between);
        writes of other processes are seen at the next read, every `poll_seconds`."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max(wait_seconds, 0.0)
        with self.listening(instance_id) as written:
            while True:
                written.clear()  # a write from here on wakes the wait below
                events = await asyncio.to_thread(self.read, instance_id, after, limit, complete)
                if events or loop.time() >= deadline:
                    return events
                next_read = min(deadline, loop.time() + poll_seconds)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(written.wait(), next_read - loop.time())

    def read(
        self, instance_id: str, after: int, limit: int = READ_LIMIT, complete: bool = False
    ) -> list[StoredEvent]:
        """Up to `limit` events after `after` that no later write can precede (all of
        them, when the run is `complete`); one range query, from the event at `after`."""
        if complete:
            return self.store.read(instance_id, after, limit)
        events = self.store.read(instance_id, max(after - 1, 0), limit + 1)
        return readable(events, after)[:limit]

    def writer(self, instance_id: str, slot: EventSlot | None) -> SlotWriter:
        """What one activity writes through: events numbered inside its slot (nothing
        is written without a slot)."""
        return SlotWriter(self, instance_id, slot)


class SlotWriter:
    """One activity's events, numbered in its slot; does nothing without a slot.

    `write_soon` lets an activity's own work (a tool, a model call) start while its
    first events are still on their way to storage. Order holds all the same: every
    later write waits for an earlier one first, and events a background write could
    not store go again at the head of the next write, under the same sequence numbers.
    Used as a context manager, the writer also waits on leaving, so no write outlives
    its activity (a retry never races the attempt before it) — except `write_last`'s,
    whose events the run's next activity writes again. The slot's `rewrite` events
    go at the head of the first write.
    """

    def __init__(self, log: RunEvents | None, instance_id: str, slot: EventSlot | None) -> None:
        self._log = log
        self._instance_id = instance_id
        self._slot = slot
        self._next = slot.written if slot is not None else 0  # the rest is written
        self._texts = 0
        # Earlier activities' events to write again go at the head of the first write.
        self._unwritten: list[StoredEvent] = list(slot.rewrite) if slot is not None else []
        self._background: Future[None] | None = None
        self._in_flight: list[StoredEvent] = []

    def __enter__(self) -> SlotWriter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.settle()

    @property
    def step(self) -> int:
        """The run's step when the activity was scheduled (0 without a slot)."""
        return self._slot.step if self._slot is not None else 0

    @property
    def started_written(self) -> bool:
        """Whether another activity wrote this slot's first events (a tool call's
        record and `started`, see `EventSlot.written`)."""
        return self._slot is not None and self._slot.written > 0

    @property
    def place(self) -> dict[str, int]:
        """For a tool call, its place among its step's calls (`index`, `calls`), as the
        call's events record it."""
        if self._slot is None:
            return {}
        return {"index": self._slot.call, "calls": self._slot.calls}

    def write(self, *events: RunEvent, ahead: Sequence[StoredEvent] = ()) -> None:
        """Write the orchestrator's events for this activity (first call only),
        whatever a background write could not store, and `events`, in one batch, once
        any background write has ended; `ahead`: events already numbered in the slots
        of activities the orchestrator schedules next (`events.announced_events`), in
        the same batch. Text past the slot's text budget is dropped (the end event has
        the whole answer); raises when storage fails."""
        self.settle()
        batch = self._number(events)
        if batch is None and not (ahead and self._slot is not None and self._log is not None):
            return
        batch = batch or []
        self._store([*self._unwritten, *batch, *ahead])
        self._unwritten = []
        self._next += len(batch)

    def write_soon(self, *events: RunEvent) -> None:
        """Like `write`, but returns at once, the write going on in the background. A
        failure is logged and its events are written again by the next `write`."""
        self.settle()
        batch = self._number(events)
        if batch is None or self._log is None:
            return
        pending = [*self._unwritten, *batch]
        self._unwritten = []
        self._next += len(batch)
        self._in_flight = pending
        self._background = self._log.write_soon(
            self._instance_id, pending, first=self._is_first(pending)
        )

    def write_last(self, *events: RunEvent) -> None:
        """The activity's last events, for the orchestrator to have the run's next
        activity write again (`events.finished_again`): written in a background
        thread once the writes before have ended, and neither `settle` nor leaving the
        writer waits for it, so the activity returns at once. A failure is logged; the
        next activity's write puts the events in. When an earlier write could not store
        its events, this writes them with `events` before returning (raising on
        failure), as the next activity writes only these again."""
        self.settle()
        if self._unwritten:
            self.write(*events)
            return
        batch = self._number(events)
        if batch is None or self._log is None:
            return
        self._next += len(batch)
        written = self._log.write_soon(self._instance_id, batch, first=self._is_first(batch))
        written.add_done_callback(_warn_if_failed)

    def settle(self) -> None:
        """Wait for a background write to end (what it could not store is kept for
        the next `write`)."""
        if self._background is None:
            return
        try:
            self._background.result()
        except Exception:
            logger.warning("could not write events yet; the next write takes them")
            self._unwritten = [*self._in_flight, *self._unwritten]
        self._background = None
        self._in_flight = []

    def _number(self, events: Sequence[RunEvent]) -> list[StoredEvent] | None:
        """`events` (after the orchestrator's, on the first call) with their sequence
        numbers; None when there is nothing to write."""
        if self._slot is None or self._log is None:
            return None
        batch: list[RunEvent] = []
        if self._next == 0:
            batch.extend(self._slot.record)
        for event in events:
            if event.type is EventType.TEXT:
                if self._texts >= MAX_TEXT_EVENTS_PER_SLOT:
                    continue
                self._texts += 1
            batch.append(event)
        if self._next + len(batch) > SLOT_SIZE:
            batch = []  # past the slot's bound: dropped
        if not batch and not self._unwritten:
            return None
        return [
            StoredEvent(
                seq=sequence_number(self._slot.slot, self._next + i), type=e.type, data=e.data
            )
            for i, e in enumerate(batch)
        ]

    def _is_first(self, stored: list[StoredEvent]) -> bool:
        """Whether `stored` begins the run's log (so the run row goes first)."""
        return stored[0].seq == sequence_number(0, 0)

    def _store(self, stored: list[StoredEvent]) -> None:
        if self._slot is None or self._log is None:
            return
        self._log.write(self._instance_id, stored, first=self._is_first(stored))

    def text_sink(
        self,
        interval_seconds: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        timer: Timer | None = None,
    ) -> TextCoalescer:
        """A callback for the model's text deltas, writing them coalesced (every
        `TEXT_INTERVAL_SECONDS` unless told otherwise)."""
        interval = TEXT_INTERVAL_SECONDS if interval_seconds is None else interval_seconds
        return TextCoalescer(self, interval, clock, timer or thread_timer)


def _warn_if_failed(written: Future[None]) -> None:
    if written.exception() is not None:
        logger.warning("could not write an activity's last events; the next one will")


Timer = Callable[[float, Callable[[], None]], Callable[[], None]]
"""Calls a function after a delay (seconds) in another thread; returns what cancels it."""


def thread_timer(delay: float, function: Callable[[], None]) -> Callable[[], None]:
    """`Timer` on a daemon `threading.Timer`, in the caller's context (trace spans)."""
    context = contextvars.copy_context()
    timer = threading.Timer(delay, context.run, args=(function,))
    timer.daemon = True
    timer.start()
    return timer.cancel


class TextCoalescer:
    """Text deltas in, at most one text event per `interval_seconds` out (the first
    at once): a delta is written with the text before it when it comes at least that
    long after the last write, and no text waits longer than that either (a timer
    writes it when no such delta comes). Call it with each delta, and `close()` at
    the end of the turn for what is still buffered. A failed write is logged and the text
    kept for the next one: text is a live view, the end event carries the answer.
    """

    def __init__(
        self,
        writer: SlotWriter,
        interval_seconds: float,
        clock: Callable[[], float],
        timer: Timer = thread_timer,
    ) -> None:
        self._writer = writer
        self._interval = interval_seconds
        self._clock = clock
        self._timer = timer
        self._lock = threading.Lock()  # the timer's thread writes too
        self._buffer = ""
        self._offset = 0
        self._last_write: float | None = None
        self._cancel_timer: Callable[[], None] | None = None
        self._closed = False

    def __call__(self, delta: str) -> None:
        with self._lock:
            if self._closed:
                return
            self._buffer += delta
            now = self._clock()
            if self._last_write is None or now - self._last_write >= self._interval:
                self._stop_timer()
                self._write()
            elif self._cancel_timer is None:
                self._cancel_timer = self._timer(self._interval, self._on_timer)

    def _on_timer(self) -> None:
        with self._lock:
            self._cancel_timer = None
            if not self._closed:
                self._write()

    def flush(self) -> None:
        """Write what is buffered now."""
        with self._lock:
            self._write()

    def close(self) -> list[RunEvent]:
        """Stop writing: the text still buffered, as events for the activity's last
        write (so it goes with whatever else that write has)."""
        with self._lock:
            self._closed = True
            self._stop_timer()
            events, self._offset = self._events()
            self._buffer = ""
            return events

    def _stop_timer(self) -> None:
        if self._cancel_timer is not None:
            self._cancel_timer()
            self._cancel_timer = None

    def _events(self) -> tuple[list[RunEvent], int]:
        """The buffer as text events, and the offset after them."""
        events: list[RunEvent] = []
        offset = self._offset
        for start in range(0, len(self._buffer), TEXT_CHARS):
            chunk = self._buffer[start : start + TEXT_CHARS]
            events.append(text_event(offset, chunk))
            offset += len(chunk)
        return events, offset

    def _write(self) -> None:
        if not self._buffer:
            return
        self._last_write = self._clock()
        events, offset = self._events()
        try:
            self._writer.write(*events)
        except Exception:
            logger.warning("could not write text events; keeping them for the next write")
            return
        self._buffer = ""
        self._offset = offset


class TextCursor:
    """The new part of each text event, once: text placed at its offset, so text a
    retried activity wrote again is skipped. Offsets count per activity (slot), so a
    new activity's text starts afresh."""

    def __init__(self) -> None:
        self._covered: dict[int, int] = {}

    def new_text(self, event: StoredEvent) -> str:
        """What `event` adds to the text seen so far ("" for other events)."""
        if event.type is not EventType.TEXT:
            return ""
        slot = event.seq // SLOT_SIZE
        offset = int(event.data["offset"])
        text = str(event.data["text"])
        done = self._covered.get(slot, 0)
        if offset + len(text) <= done:
            return ""
        self._covered[slot] = offset + len(text)
        return text[max(done - offset, 0) :]


def text_of(events: Sequence[StoredEvent]) -> Iterator[str]:
    """The new text in `events`, in order (see `TextCursor`)."""
    cursor = TextCursor()
    for event in events:
        piece = cursor.new_text(event)
        if piece:
            yield piece
