"""A loopback HTTP server that records what clients send and answers as told: for
tests of what goes over the wire (headers, URLs, retries) instead of client internals."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.support.http_serving import serving

EMPTY_LIST: dict[str, Any] = {
    "object": "list",
    "data": [],
    "first_id": None,
    "last_id": None,
    "has_more": False,
}
"""A body every list endpoint of the SDK parses."""


@dataclass
class Seen:
    """One request as it arrived."""

    method: str
    path: str
    headers: dict[str, str]


@dataclass
class RecordingServer:
    """What was sent to `url`, and how the next requests are answered."""

    url: str = ""
    seen: list[Seen] = field(default_factory=list)
    status: int = 200
    body: Any = field(default_factory=lambda: EMPTY_LIST)
    headers: dict[str, str] = field(default_factory=dict)
    delay_seconds: float = 0.0


@contextmanager
def recording_server() -> Iterator[RecordingServer]:
    """A `RecordingServer` on a free loopback port, stopped on exit."""
    state = RecordingServer()

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            self.rfile.read(length)
            state.seen.append(
                Seen(self.command, self.path, {k.lower(): v for k, v in self.headers.items()})
            )
            time.sleep(state.delay_seconds)
            payload = json.dumps(state.body).encode()
            self.send_response(state.status)
            for name, value in {"content-type": "application/json", **state.headers}.items():
                self.send_header(name, value)
            self.send_header("content-length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = do_DELETE = _answer

        def log_message(self, format: str, *args: Any) -> None:
            return

    with serving(Handler) as url:
        state.url = url
        yield state
