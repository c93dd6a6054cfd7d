"""Helpers for tests: the emulator in a background thread, or as a child process.

`running_emulator(api_key="k", poll_after_ms=10)` yields an object with `url`
(give it to `AzureOpenAI(azure_endpoint=...)`), `counts()`, `configure(...)`
and `reset()`; `emulator_process(...)` does the same through the CLI.
"""

from __future__ import annotations

import http.client
import json
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit

from emulator.identity import IDENTITY_PATH
from emulator.proxy import ProxySettings
from emulator.server import base_url, bind, build_state, make_server
from emulator.state import EmulatorState

READY = re.compile(r"emulator listening on (\S+)")
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


class EmulatorProcess(AdminClient):
    """An emulator running as `python -m emulator` in a child process."""

    def __init__(self, url: str, process: subprocess.Popen[str]) -> None:
        super().__init__(url)
        self.process = process


@contextmanager
def emulator_process(*args: str, timeout: float = START_TIMEOUT) -> Iterator[EmulatorProcess]:
    """Run `python -m emulator --port 0 ARGS...`, wait for its ready line, stop it after."""
    command = [sys.executable, "-m", "emulator", "--port", "0", *args]
    process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
        command,
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parent.parent,
    )
    try:
        url = _wait_ready(process, timeout)
        yield EmulatorProcess(url, process)
    finally:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()


def _wait_ready(process: subprocess.Popen[str], timeout: float) -> str:
    """The URL from the ready line, read on a thread so a silent child cannot hang us."""
    found: list[str] = []

    def read(stream: IO[str]) -> None:
        for line in stream:
            match = READY.search(line)
            if match:
                found.append(match.group(1))
                return

    assert process.stdout is not None
    reader = threading.Thread(target=read, args=(process.stdout,), daemon=True)
    reader.start()
    reader.join(timeout)
    if not found:
        raise RuntimeError(f"the emulator printed no ready line (exit code {process.poll()})")
    return found[0]
