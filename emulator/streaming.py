"""Server-sent events out of the emulator: the transport both APIs stream through.

An event source is an async iterator of `(event name, data)` pairs. `SseResponse`
writes them as `event:`/`data:` frames and watches the connection meanwhile: when
the client goes away, the source is stopped and `on_disconnect` says so (the API
decides what that means for the generation). A source that yields `DROP` breaks
the connection there, the way a network failure does: the client sees a body
that ends without its final chunk.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

from starlette.responses import Response
from starlette.types import Receive, Scope, Send

Json = dict[str, Any]
Event = tuple[str, Any]
DONE = "done"
"""The Assistants stream's last event; its data is `[DONE]`."""

DROP: Event = ("", None)
"""Yielded by a source to break the connection there (the `drop_midway` fault)."""

TICK_SECONDS = 0.02
"""How often a waiting stream looks at its object again (cancels, expiry, the clock)."""

MAX_DELTAS = 24
"""A turn's text is sent in at most this many deltas."""


def frame(event: str, data: Any) -> bytes:
    """One SSE frame."""
    text = data if isinstance(data, str) else json.dumps(data)
    return f"event: {event}\ndata: {text}\n\n".encode()


def text_pieces(text: str, most: int = MAX_DELTAS) -> list[str]:
    """The text cut into word-aligned deltas (at most `most`), joined back exactly."""
    words = text.split(" ")
    per = max(1, -(-len(words) // most))
    pieces = [" ".join(words[i : i + per]) for i in range(0, len(words), per)]
    return [piece + " " if i < len(pieces) - 1 else piece for i, piece in enumerate(pieces)]


def spread(start: float, end: float, count: int) -> list[float]:
    """`count` times from a quarter into [start, end] up to end: when deltas are due.

    The first quarter is the model's time to its first token.
    """
    if count <= 0:
        return []
    first = start + (end - start) / 4
    if count == 1:
        return [end]
    step = (end - first) / (count - 1)
    return [first + i * step for i in range(count)]


async def sleep_until(clock: Callable[[], float], at: float) -> None:
    """Sleep at most one tick towards `at` (callers loop, looking at their object)."""
    await asyncio.sleep(max(0.0, min(TICK_SECONDS, at - clock())))


class _Dropped(Exception):
    """The source asked for the connection to break here."""


class SseResponse(Response):
    """A `text/event-stream` answer fed by an event source."""

    def __init__(
        self,
        source: AsyncIterator[Event],
        *,
        on_disconnect: Callable[[], None] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(media_type="text/event-stream")
        self.source = source
        self.on_disconnect = on_disconnect
        self.extra_headers = {"x-request-id": str(uuid.uuid4()), **(headers or {})}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = [
            (b"content-type", b"text/event-stream; charset=utf-8"),
            (b"cache-control", b"no-cache"),
            *((k.encode(), v.encode()) for k, v in self.extra_headers.items()),
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        pump = asyncio.create_task(self._pump(send))
        gone = asyncio.create_task(_wait_disconnect(receive))
        done, _ = await asyncio.wait({pump, gone}, return_when=asyncio.FIRST_COMPLETED)
        if pump not in done:
            pump.cancel()
            with contextlib.suppress(asyncio.CancelledError, _Dropped):
                await pump
            await _close(self.source)
            if self.on_disconnect is not None:
                self.on_disconnect()
            return
        gone.cancel()
        await _close(self.source)
        try:
            pump.result()
        except _Dropped:
            return  # no final chunk: the server closes the connection mid-body
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def _pump(self, send: Send) -> None:
        async for event, data in self.source:
            if (event, data) == DROP:
                raise _Dropped
            body = frame(event, data)
            await send({"type": "http.response.body", "body": body, "more_body": True})


async def _wait_disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


async def _close(source: AsyncIterator[Event]) -> None:
    closing = getattr(source, "aclose", None)
    if closing is not None:
        await closing()
