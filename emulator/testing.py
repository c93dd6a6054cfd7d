"""Helpers for tests: the emulator in a background thread of the test process.

`running_emulator(api_key="k", poll_after_ms=10)` yields an object with `url`
(give it to `AzureOpenAI(azure_endpoint=...)`), `counts()`, `configure(...)`
and `reset()`. As a child process, the emulator is started by the local stack
(`localrun.stack.running_model`).
"""

from __future__ import annotations

import http.client
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from emulator.config import Controls
from emulator.identity import IDENTITY_PATH
from emulator.proxy import ProxySettings
from emulator.server import base_url, bind, build_state, make_server
from emulator.state import EmulatorState

START_TIMEOUT = 15.0


class AdminClient:
    """Calls the admin endpoint of an emulator at `url` (stdlib HTTP, no extra deps)."""

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")

    def _call(self, method: str, name: str, body: dict[str, Any] | None = None) -> Any:
        parts = urlsplit(self.url)
        connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, 10)
        try:
            payload = json.dumps(body).encode() if body is not None else None
            headers = {"content-type": "application/json"} if payload else {}
            connection.request(method, f"/_emulator/{name}", body=payload, headers=headers)
            answer = connection.getresponse()
            data = json.loads(answer.read() or b"null")
        finally:
            connection.close()
        if answer.status >= 400:
            raise ValueError(f"admin {method} {name}: {answer.status} {data}")
        return data

    def counts(self) -> dict[str, Any]:
        """Live objects and requests served by route."""
        result: dict[str, Any] = self._call("GET", "counts")
        return result

    def live(self) -> dict[str, int]:
        """Objects still held, by kind (assistants, threads, messages, runs, ...)."""
        return {kind: int(n) for kind, n in self.counts()["live"].items()}

    def configure(self, **controls: Any) -> dict[str, Any]:
        """Change controls at run time; returns them all."""
        result: dict[str, Any] = self._call("PUT", "config", controls)
        return result

    def config(self) -> dict[str, Any]:
        """The current controls."""
        result: dict[str, Any] = self._call("GET", "config")
        return result

    def reset(self) -> None:
        """Forget every object and counter."""
        self._call("POST", "reset")


class RunningEmulator(AdminClient):
    """An emulator serving from a background thread of this process."""

    def __init__(self, url: str, state: EmulatorState) -> None:
        super().__init__(url)
        self.state = state

    def start_over(self, **controls: Any) -> None:
        """Forget every object and counter, and start again from `controls` (over the
        defaults): one emulator can serve tests that each want their own starting
        controls, which a later `reset()` keeps."""
        fresh = Controls()
        fresh.update(controls)
        self.state.reset(fresh)

    @property
    def identity_env(self) -> dict[str, str]:
        """`IDENTITY_ENDPOINT` and `IDENTITY_HEADER` for azure-identity (needs `token=`)."""
        secret = self.state.identity_header or self.state.token
        if secret is None:
            raise RuntimeError("start the emulator with token= to serve managed identity")
        return {"IDENTITY_ENDPOINT": self.url + IDENTITY_PATH, "IDENTITY_HEADER": secret}


@contextmanager
def running_emulator(
    *,
    api_key: str | None = None,
    token: str | None = None,
    identity_header: str | None = None,
    script: str | Path | list[str | Path] | None = None,
    proxy: ProxySettings | None = None,
    host: str = "127.0.0.1",
    **controls: Any,
) -> Iterator[RunningEmulator]:
    """Serve an emulator on a free port for the duration of the block."""
    state = build_state(
        api_key=api_key,
        token=token,
        identity_header=identity_header,
        script=script,
        proxy=proxy,
        **controls,
    )
    sock = bind(host, 0)
    server = make_server(state)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="emulator", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + START_TIMEOUT
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            sock.close()
            raise RuntimeError("the emulator did not start")
        time.sleep(0.005)
    try:
        yield RunningEmulator(base_url(sock), state)
    finally:
        server.should_exit = True
        thread.join(timeout=5)
        sock.close()
