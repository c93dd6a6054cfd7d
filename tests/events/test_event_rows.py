"""How events sit in Table rows (`event_rows`): one row per write, split only when
very large, and read back one copy per sequence number."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from durable_assistant.event_rows import (
    PROPERTY_CHARS,
    ROW_CHARS,
    events_in,
    row_key,
    rows_of,
    transactions_of,
)
from durable_assistant.events import EventType, StoredEvent

T0 = datetime(2026, 5, 1, tzinfo=UTC)


def text(seq: int, body: str, offset: int = 0) -> StoredEvent:
    return StoredEvent(seq=seq, type=EventType.TEXT, data={"offset": offset, "text": body})


def test_a_write_is_one_row_keyed_by_its_highest_sequence_number() -> None:
    events = [text(10_003, "c"), text(10_001, "a"), text(20_000, "z")]

    (row,) = rows_of(events)

    assert row.key == row_key(20_000)
    entity = row.entity("run-1", T0, instance_id="run-1")
    assert entity["count"] == 3 and entity["instance_id"] == "run-1"
    assert events_in([entity]) == sorted(events, key=lambda e: e.seq)


def test_a_very_large_write_is_cut_into_rows_and_properties_the_service_accepts() -> None:
    # Characters outside the BMP take two UTF-16 code units each: the worst case.
    events = [text(10_000 + i, "\U0001f600" * 4_000) for i in range(100)]

    rows = rows_of(events)

    assert len(rows) > 1
    entities = [row.entity("run-1", T0) for row in rows]
    for entity in entities:
        strings = [v for k, v in entity.items() if k.startswith("events_")]
        assert all(len(s.encode("utf-16-le")) <= 64 * 1024 for s in strings)
        assert sum(len(s) for s in strings) <= ROW_CHARS + 2
        assert max(len(s) for s in strings) <= PROPERTY_CHARS
    assert events_in(entities) == events
    assert sum(len(group) for group in transactions_of(rows)) == len(rows)


def test_of_copies_of_a_sequence_number_the_one_written_last_is_read() -> None:
    first = rows_of([text(10_000, "Hel"), text(10_001, "lo w", 3), text(10_002, "orld", 7)])
    again = rows_of([text(10_000, "Hello"), text(10_001, " world", 5)])  # cut otherwise
    rows = [
        *(r.entity("run-1", T0) for r in first),
        *(r.entity("run-1", T0 + timedelta(seconds=5)) for r in again),
    ]

    events = events_in(reversed(rows))  # whatever order the rows come in

    assert [(e.seq, e.data["text"]) for e in events] == [
        (10_000, "Hello"),
        (10_001, " world"),
        (10_002, "orld"),  # only the first attempt wrote this one; offsets place it
    ]


def test_rows_of_the_earlier_layout_one_event_each_read_alongside() -> None:
    legacy = {
        "PartitionKey": "run-1",
        "RowKey": row_key(10_000),
        "type": "phase",
        "data": '{"phase": "starting", "step": 0}',
        "written_at": T0,
    }
    (row,) = rows_of([text(10_001, "a")])

    events = events_in([legacy, row.entity("run-1", T0)])

    assert [(e.seq, e.type) for e in events] == [
        (10_000, EventType.PHASE),
        (10_001, EventType.TEXT),
    ]
