"""Serving: uvicorn on a socket we bind ourselves, so `--port 0` knows its real port."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import uvicorn

from emulator.app import EmulatorApp
from emulator.config import Controls
from emulator.proxy import ProxyModel, ProxySettings
from emulator.script import ScriptBook
from emulator.state import EmulatorState


def build_state(
    *,
    api_key: str | None = None,
    token: str | None = None,
    identity_header: str | None = None,
    script: str | Path | list[str | Path] | None = None,
    proxy: ProxySettings | None = None,
    **controls: Any,
) -> EmulatorState:
    """A fresh emulator memory with these credentials, scripts (or proxy) and controls."""
    paths = [script] if isinstance(script, str | Path) else script
    state_controls = Controls()
    state_controls.update(controls)
    return EmulatorState(
        state_controls,
        ScriptBook.load(paths),
        api_key=api_key,
        token=token,
        identity_header=identity_header,
        proxy=ProxyModel(proxy) if proxy is not None else None,
    )


def bind(host: str, port: int) -> socket.socket:
    """A listening socket; port 0 picks a free one.

    devhost has the same few lines (`devhost.cli.bind`): the two stand-ins are
    standalone tools that share no package, so each keeps its own copy.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP explicitly: asyncio only turns Nagle off (TCP_NODELAY) on sockets
    # that say they are TCP, and without it every answer waits ~40 ms for an ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((host, port))
    sock.listen(128)
    sock.setblocking(False)
    return sock


def base_url(sock: socket.socket) -> str:
    """The URL clients use as `azure_endpoint` (no trailing slash)."""
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"


def make_server(state: EmulatorState, log_level: str = "warning") -> uvicorn.Server:
    """A uvicorn server for the emulator app (no access log: the admin counts say more)."""
    config = uvicorn.Config(
        EmulatorApp(state),
        log_level=log_level,
        access_log=False,
        lifespan="off",
        timeout_graceful_shutdown=1,
    )
    return uvicorn.Server(config)
