"""FastAPI requests for calling the app's HTTP functions in-process, as the worker
hands them over in HTTP-streams mode (the body unread, route values in path_params)."""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import urlsplit

from azurefunctions.extensions.http.fastapi import Request, Response
from starlette.types import Message


def make_request(
    method: str,
    url: str,
    body: bytes = b"",
    *,
    headers: dict[str, str] | None = None,
    path_params: dict[str, str] | None = None,
) -> Request:
    """A request for `method url` with `body`, as a function receives it."""
    parts = urlsplit(url)
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if sent:
            await asyncio.sleep(3600)  # the client keeps the connection open
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    scope: dict[str, Any] = {
        "type": "http",
        "http_version": "1.1",
        "method": method,
        "scheme": parts.scheme,
        "server": (parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)),
        "path": parts.path,
        "raw_path": parts.path.encode(),
        "query_string": parts.query.encode(),
        "root_path": "",
        "headers": [
            (name.lower().encode("latin-1"), value.encode("latin-1"))
            for name, value in {"host": parts.netloc, **(headers or {})}.items()
        ],
        "path_params": path_params or {},
    }
    return Request(scope, receive)


def body_bytes(response: Response) -> bytes:
    """The whole body of a (non-streaming) response."""
    return bytes(response.body)
