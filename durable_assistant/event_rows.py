"""How the run event log's events sit in Table rows: one row per write.

A write of the log (an activity's events, and whatever else the process queued for
the run meanwhile) goes into one row, so it is one plain upsert: a batch transaction
costs the service the same, but the client several times the CPU time (the
multipart body and its reply are built and parsed part by part), and a run writes
the log about fifteen times.

A row's RowKey is the highest sequence number in it (zero-padded, as the events'
keys were), and the row holds its events as JSON, cut into string properties the
service accepts (`events_0`, `events_1`, …). Rows are read by a range query on that
key: every row with an event past a reader's position has a key past it. Key order
is not event order, though (a write may carry earlier activities' events again), so
a read expands the rows, keeps one copy of each sequence number (the one written
last, as an upsert under the event's own key used to leave it) and sorts them.

Rows written by earlier versions, one per event (`type`, `data`), read the same way.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import TypeAdapter

from durable_assistant.events import EventType, StoredEvent
from durable_assistant.ledger import BATCH_LIMIT

SEQ_DIGITS = 15

PROPERTY_CHARS = 32_000
"""Characters per string property. Events are stored as ASCII JSON (other characters
escaped), so this is 64,000 bytes of UTF-16: within the service's 64 KiB."""

ROW_CHARS = 450_000
"""Characters of JSON per row: 900,000 bytes stored as UTF-16 and at most that on the
wire (JSON escapes a quote or backslash with one more character), within the 1 MiB
an entity may have. The largest event, an end with its answer, takes at most 384,000."""

TRANSACTION_CHARS = 3 * ROW_CHARS
"""Characters of JSON in the rows of one transaction (a write too big for one row):
within the 4 MiB a transaction's body may have."""

EVENTS_PREFIX = "events_"

_EVENT_LIST = TypeAdapter(list[StoredEvent])
"""A row's events, validated straight from their JSON."""


def row_key(seq: int) -> str:
    """The RowKey of the row whose highest sequence number is `seq`."""
    return f"{seq:0{SEQ_DIGITS}d}"


@dataclass(frozen=True)
class Row:
    """One row's events (in sequence order) and its entity's own fields."""

    events: list[StoredEvent]
    json: list[str]  # each event's JSON, as stored

    @property
    def key(self) -> str:
        return row_key(self.events[-1].seq)

    def entity(self, partition: str, written_at: datetime, **fields: Any) -> dict[str, Any]:
        """The entity to upsert (with REPLACE: a retried write leaves no property of
        the one before behind), with `fields` besides."""
        text = "[" + ",".join(self.json) + "]"
        parts = [text[i : i + PROPERTY_CHARS] for i in range(0, len(text), PROPERTY_CHARS)]
        return {
            "PartitionKey": partition,
            "RowKey": self.key,
            "count": len(self.events),
            "written_at": written_at,
            **{f"{EVENTS_PREFIX}{i}": part for i, part in enumerate(parts)},
            **fields,
        }


def _json(event: StoredEvent) -> str:
    return json.dumps({"seq": event.seq, "type": event.type.value, "data": event.data})


def rows_of(events: Sequence[StoredEvent]) -> list[Row]:
    """`events` (one copy per sequence number) in sequence order, cut into rows of at
    most `ROW_CHARS` of JSON: one row unless the write is very large."""
    rows: list[Row] = []
    current: list[StoredEvent] = []
    texts: list[str] = []
    size = 0
    for event in sorted(events, key=lambda e: e.seq):
        text = _json(event)
        if current and size + len(text) + 1 > ROW_CHARS:
            rows.append(Row(current, texts))
            current, texts, size = [], [], 0
        current.append(event)
        texts.append(text)
        size += len(text) + 1
    if current:
        rows.append(Row(current, texts))
    return rows


def transactions_of(rows: Sequence[Row]) -> list[list[Row]]:
    """Rows grouped into transactions of at most `TRANSACTION_CHARS` of JSON (and the
    service's `BATCH_LIMIT` operations)."""
    groups: list[list[Row]] = []
    size = 0
    for row in rows:
        length = sum(len(text) + 1 for text in row.json)
        if groups and size + length <= TRANSACTION_CHARS and len(groups[-1]) < BATCH_LIMIT:
            groups[-1].append(row)
            size += length
        else:
            groups.append([row])
            size = length
    return groups


def _events_of(entity: Mapping[str, Any]) -> list[StoredEvent]:
    """The events of one row, whichever layout wrote it."""
    if "count" in entity:
        parts = sorted(
            (int(name[len(EVENTS_PREFIX) :]), str(value))
            for name, value in entity.items()
            if name.startswith(EVENTS_PREFIX)
        )
        return _EVENT_LIST.validate_json("".join(part for _, part in parts))
    return [
        StoredEvent(
            seq=int(entity["RowKey"]),
            type=EventType(entity["type"]),
            data=json.loads(entity["data"]),
        )
    ]


def events_in(entities: Iterable[Mapping[str, Any]]) -> list[StoredEvent]:
    """The events of `entities` (rows of one run), one per sequence number, in order:
    of copies of one number, the one last written (by the row's `written_at`, then
    its key) is kept."""
    latest: dict[int, tuple[tuple[datetime, str], StoredEvent]] = {}
    for entity in entities:
        written = (entity["written_at"], str(entity["RowKey"]))
        for event in _events_of(entity):
            kept = latest.get(event.seq)
            if kept is None or written >= kept[0]:
                latest[event.seq] = (written, event)
    return [latest[seq][1] for seq in sorted(latest)]
