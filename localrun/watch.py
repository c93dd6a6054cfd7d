"""Watching a run live from the command line: its events as Server-Sent Events.

`make run` prints the answer as the model writes it. The stream may end before the
run does (the server closes long streams); it is picked up again where it stopped,
with `Last-Event-ID`, as a browser's `EventSource` would.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import requests

from durable_assistant.event_log import TextCursor
from durable_assistant.events import EventType, StoredEvent

MAX_RECONNECTS = 50


def sse_events(reply: requests.Response) -> Iterator[StoredEvent]:
    """The events of a Server-Sent Events answer, as they arrive."""
    fields: dict[str, str] = {}
    for line in reply.iter_lines(decode_unicode=True):
        if line == "":
            if "data" in fields and "id" in fields and "event" in fields:
                yield StoredEvent(
                    seq=int(fields["id"]),
                    type=EventType(fields["event"]),
                    data=json.loads(fields["data"]),
                )
            fields = {}
        elif not line.startswith(":"):
            name, _, value = line.partition(":")
            fields[name] = value.removeprefix(" ")


def watch(events_url: str, on_text: Callable[[str], None], timeout: float = 120) -> dict[str, Any]:
    """Follow a run's events until its end; `on_text` hears the model's text as it
    comes. The end event's data, or {} when the stream ended without one."""
    cursor = TextCursor()
    last: int | None = None
    for _ in range(MAX_RECONNECTS):
        headers = {"Accept": "text/event-stream"}
        if last is not None:
            headers["Last-Event-ID"] = str(last)
        with requests.get(events_url, headers=headers, stream=True, timeout=timeout) as reply:
            reply.raise_for_status()
            got_any = False
            for event in sse_events(reply):
                got_any = True
                last = event.seq
                piece = cursor.new_text(event)
                if piece:
                    on_text(piece)
                if event.type is EventType.END:
                    return event.data
        if not got_any and _over(events_url, last, timeout):
            return {}  # over without an end event (terminated)
    return {}


def _over(events_url: str, last: int | None, timeout: float) -> bool:
    """Whether the run is over with no event after `last` (a stream that closed
    without an event may just have reached its time limit)."""
    reply = requests.get(events_url, params={"after": last or 0}, timeout=timeout)
    reply.raise_for_status()
    page = reply.json()
    return bool(page["done"]) and not page["events"]
