"""A counting proxy in front of Azurite's Table service: Table requests per run.

The app reaches Table storage through this proxy (its connection string names the
proxy's port), which forwards every byte both ways and counts the HTTP requests
it forwards, reading each request's head and skipping its body by Content-Length
(a `$batch` counts once, as the service bills it), by table (a batch's table is
named in its body). Loopback only.
"""

from __future__ import annotations

import asyncio
import re
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

_PORT = re.compile(r"(TableEndpoint=http://127\.0\.0\.1:)(\d+)")
_LENGTH = re.compile(rb"^content-length:\s*(\d+)\s*$", re.IGNORECASE | re.MULTILINE)
_TABLE = re.compile(rb"^[A-Z]+ /[^/\s]+/([A-Za-z$][A-Za-z0-9]*)")
_BATCH_TABLE = re.compile(rb"https?://[^/\s]+/[^/\s]+/([A-Za-z][A-Za-z0-9]*)")


def table_of(head: bytes, body: bytes) -> str:
    """The table a request is for (`Tables` for table operations, `?` when unknown)."""
    found = _TABLE.match(head)
    name = found.group(1) if found else b"?"
    if name == b"$batch":
        inner = _BATCH_TABLE.search(body)
        name = inner.group(1) if inner else name
    return name.decode()


class TableProxy:
    """Counts the requests it forwards to `target_port`; runs its own event loop thread."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.requests = 0
        self.by_table: Counter[str] = Counter()
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._server: asyncio.Server | None = None
        self._thread = threading.Thread(target=self._run, name="table-proxy", daemon=True)

    def start(self) -> None:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the Table proxy did not start")

    def stop(self) -> None:
        """Close the listener and every open connection, then end the loop's thread."""
        asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    async def _shutdown(self) -> None:
        if self._server is not None:
            self._server.close()
        others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in others:
            task.cancel()
        await asyncio.gather(*others, return_exceptions=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._server = self._loop.run_until_complete(
            asyncio.start_server(self._serve, "127.0.0.1", 0)
        )
        self.port = self._server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()
        self._loop.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.close()
            return
        down = asyncio.ensure_future(_pipe(up_reader, writer))
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                found = _LENGTH.search(head)
                body = await reader.readexactly(int(found.group(1))) if found else b""
                self.by_table[table_of(head, body)] += 1
                self.requests += 1
                up_writer.write(head + body)
                await up_writer.drain()
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            pass
        finally:
            up_writer.close()
            await asyncio.gather(down, return_exceptions=True)
            writer.close()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except ConnectionError:
        pass
    finally:
        writer.close()


@contextmanager
def counting_tables(connection_string: str) -> Iterator[tuple[TableProxy, str]]:
    """A proxy for the Azurite named by `connection_string`, and the string that uses it."""
    found = _PORT.search(connection_string)
    if found is None:
        raise ValueError("the connection string names no loopback TableEndpoint")
    proxy = TableProxy(int(found.group(2)))
    proxy.start()
    try:
        yield proxy, _PORT.sub(lambda m: f"{m.group(1)}{proxy.port}", connection_string)
    finally:
        proxy.stop()
