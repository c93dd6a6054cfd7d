"""`GET /api/runs/{id}/events`, minus HTTP: its query, its JSON page and its
Server-Sent Events frames.

Two ways to watch a run: Server-Sent Events (`Accept: text/event-stream`) or a JSON
long-poll (`?after=N&wait=S`). Both resume after a sequence number: the `Last-Event-ID`
header an `EventSource` sends when it reconnects, or `?after=N`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

from pydantic import Field

from durable_assistant.api import bad_request, parse_wait
from durable_assistant.events import EventType, StoredEvent
from durable_assistant.model import Model

SSE_MEDIA_TYPE = "text/event-stream"
MAX_SEQ_DIGITS = 15
QUERY_NAMES = frozenset({"after", "wait", "code"})  # `code`: a function key
RECONNECT_MS = 1_000
"""What an `EventSource` waits before it reconnects (`retry:`)."""


class EventsQuery(Model):
    """What the caller asked for: the stream or a page, after which event, how long
    a page may wait."""

    stream: bool
    after: int = Field(ge=0)
    wait_seconds: int = Field(ge=0)


class EventsPage(Model):
    """The long-poll answer: the events after `after`, the `next` value of `after`,
    and whether the run is over (no event will follow)."""

    events: list[StoredEvent]
    next: int = Field(ge=0)
    done: bool


def _sequence(value: str, name: str) -> int:
    if not (value.isascii() and value.isdigit() and len(value) <= MAX_SEQ_DIGITS):
        raise bad_request(
            f"{name}: must be an event sequence number (a whole number, at least 0)", name
        )
    return int(value)


def wants_stream(accept: str | None) -> bool:
    """Whether the `Accept` header asks for Server-Sent Events."""
    media_types = (part.split(";")[0].strip().lower() for part in (accept or "").split(","))
    return SSE_MEDIA_TYPE in media_types


def parse_events_query(
    query: Mapping[str, str], *, accept: str | None, last_event_id: str | None
) -> EventsQuery:
    """Check the query and headers of an events request; `ApiError` (400) naming the
    field otherwise. `Last-Event-ID`, when sent, says where to resume (it wins over
    `after`, as it is what a reconnecting `EventSource` sends)."""
    unknown = sorted(set(query) - QUERY_NAMES)
    if unknown:
        raise bad_request(f"{unknown[0]}: unknown query parameter (use after and wait)", unknown[0])
    after = _sequence(query["after"], "after") if query.get("after") not in (None, "") else 0
    if last_event_id is not None and last_event_id.strip() != "":
        after = _sequence(last_event_id.strip(), "Last-Event-ID")
    return EventsQuery(
        stream=wants_stream(accept), after=after, wait_seconds=parse_wait(query.get("wait"))
    )


def page_of(events: Sequence[StoredEvent], after: int, *, finished: bool) -> EventsPage:
    """The long-poll answer for `events` read after `after`; `finished` says the
    orchestration is over (so nothing can follow even without an end event)."""
    ended = any(event.type is EventType.END for event in events)
    next_after = events[-1].seq if events else after
    return EventsPage(events=list(events), next=next_after, done=ended or (finished and not events))


def sse_frame(event: StoredEvent) -> str:
    """One Server-Sent Event: `id:` the sequence number, `event:` the type, `data:`
    the event's JSON on one line."""
    data = json.dumps(event.data, ensure_ascii=False, separators=(",", ":"))
    return f"id: {event.seq}\nevent: {event.type.value}\ndata: {data}\n\n"


def sse_preamble() -> str:
    """What a stream starts with: how soon to reconnect."""
    return f"retry: {RECONNECT_MS}\n\n"


def sse_keepalive() -> str:
    """A comment line: keeps proxies from closing an idle stream."""
    return ": keep-alive\n\n"
