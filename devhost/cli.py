"""`python -m devhost [APP_DIR] [--host H] [--port P] [--data-dir DIR]`."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import io
import logging
import os
import secrets
import signal
import socket
import sys
from collections.abc import Generator
from pathlib import Path

import uvicorn

from devhost import logs
from devhost.config import apply_local_settings
from devhost.indexer import FunctionLoadError
from devhost.server import DevHost

LOGGER = logging.getLogger("devhost")


class _Server(uvicorn.Server):
    """uvicorn server whose signals devhost handles itself (to exit 0 on Ctrl-C/SIGTERM)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(prog="python -m devhost", description=__doc__)
    parser.add_argument("app_dir", nargs="?", default=".", help="folder with function_app.py")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=7071, help="0 picks a free port")
    parser.add_argument("--data-dir", type=Path, default=None, help="default: APP_DIR/.devhost")
    parser.add_argument(
        "--require-keys",
        action="store_true",
        help="require a key (?code= or x-functions-key) on non-anonymous HTTP functions",
    )
    parser.add_argument(
        "--function-key",
        default=os.environ.get("DEVHOST_FUNCTION_KEY"),
        help="the key --require-keys accepts (default: $DEVHOST_FUNCTION_KEY, else random)",
    )
    return parser.parse_args(argv)


def bind(host: str, port: int) -> socket.socket:
    """Listen socket bound before the app loads, so `--port 0` knows its port.

    The emulator has the same few lines (`emulator.server.bind`): the two stand-ins
    are standalone tools that share no package, so each keeps its own copy.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP explicitly: asyncio turns Nagle off (TCP_NODELAY) only on sockets
    # that say they are TCP; without it small answers wait ~40 ms for an ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((host, port))
    sock.listen(128)
    sock.setblocking(False)
    return sock


YOUNG_COLLECTION_THRESHOLD = 5000
"""Allocations between two collections of the youngest generation (Python's default is
700): an app under load makes far fewer, slightly larger collections."""

KEEP_ALIVE_SECONDS = 130
"""How long an idle client connection stays open: Kestrel's default KeepAliveTimeout."""


def announce(line: str) -> None:
    """Write one line to stdout in a single write, so log output never splits it."""
    sys.stdout.flush()
    os.write(sys.stdout.fileno(), line.encode())


async def serve(host: DevHost, sock: socket.socket) -> None:
    """Run until SIGINT/SIGTERM; prints the ready line once the socket serves."""
    config = uvicorn.Config(
        host.asgi,
        log_level="warning",
        lifespan="off",
        loop="asyncio",
        http="httptools",  # the C parser: the HTTP API and every status read cost less CPU
        # Idle connections stay open as long as the host's Kestrel keeps them (130 s):
        # clients that pool connections (the durable client's aiohttp keeps them 15 s)
        # would otherwise send on one the server is just closing after uvicorn's 5 s.
        timeout_keep_alive=KEEP_ALIVE_SECONDS,
        timeout_graceful_shutdown=3,
    )
    server = _Server(config)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, lambda: setattr(server, "should_exit", True))
    host.start_background()
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if serving.done():
            await serving
            return
        await asyncio.sleep(0.01)
    host.describe()
    announce(f"devhost listening on {host.origin}\n")
    host.start_timers()
    await serving
    await host.stop()
    LOGGER.info("devhost stopped")


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit code."""
    args = parse_args(argv)
    if isinstance(sys.stdout, io.TextIOWrapper):
        sys.stdout.reconfigure(line_buffering=True)  # the app's print() shows up promptly
    logs.configure()
    app_dir = Path(args.app_dir).resolve()
    data_dir = (args.data_dir or app_dir / ".devhost").resolve()
    apply_local_settings(app_dir)
    os.chdir(app_dir)
    sock = bind(args.host, args.port)
    shown = "127.0.0.1" if args.host in ("0.0.0.0", "") else args.host  # noqa: S104
    origin = f"http://{shown}:{sock.getsockname()[1]}"
    key = None
    if args.require_keys:
        key = args.function_key or secrets.token_urlsafe(24)
        LOGGER.info("function key (?code= or x-functions-key): %s", key)
    try:
        host = DevHost(app_dir, data_dir, origin, key)
    except (FunctionLoadError, ImportError, KeyError, ValueError) as exc:
        LOGGER.error("cannot load the app in %s: %s", app_dir, exc)
        return 1
    # The app and everything it imported live as long as devhost does: frozen, they
    # are left out of every later collection, so a full one walks only what came since.
    gc.freeze()
    _, middle, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_COLLECTION_THRESHOLD, middle, oldest)
    asyncio.run(serve(host, sock))
    return 0


if __name__ == "__main__":
    sys.exit(main())
