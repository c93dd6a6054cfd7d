"""Run devhost as a subprocess from tests: `with running_devhost(app_dir) as host: ...`.

A subprocess (not a thread) so tests can kill it like a crash and start it again on the
same data dir and port.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import requests

READY = re.compile(r"devhost listening on (http://[\w.\-]+:\d+)(?:\s|$)")
ACTIVE = ("Pending", "Running", "Suspended")
PACKAGE_ROOT = Path(__file__).resolve().parent.parent


class DevhostProcess:
    """A devhost subprocess with its captured output and management-API helpers."""

    def __init__(
        self,
        app_dir: Path,
        data_dir: Path,
        *,
        env: Mapping[str, str] | None = None,
        port: int | None = None,
        ready_timeout: float = 30.0,
        extra_args: Sequence[str] = (),
        echo: bool = False,
    ) -> None:
        self.app_dir = Path(app_dir)
        self.extra_args = list(extra_args)
        self.data_dir = Path(data_dir)
        self.env = dict(env or {})
        self.port = port or 0
        self.ready_timeout = ready_timeout
        self.echo = echo  # print each output line as it comes (a terminal user's view)
        self.url = ""
        self.process: subprocess.Popen[str] | None = None
        self._lines: list[str] = []
        self._lock = threading.Lock()
        self.session = requests.Session()

    # process -------------------------------------------------------------------------

    def start_process(self) -> None:
        """Start devhost and wait for its ready line."""
        env = {**os.environ, **self.env}
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(PACKAGE_ROOT), env.get("PYTHONPATH", "")) if p
        )
        env["PYTHONUNBUFFERED"] = "1"
        command = [
            sys.executable,
            "-m",
            "devhost",
            str(self.app_dir),
            "--port",
            str(self.port),
            "--data-dir",
            str(self.data_dir),
            *self.extra_args,
        ]
        ready = threading.Event()
        self.url = ""
        self.process = subprocess.Popen(  # noqa: S603
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
            cwd=self.app_dir,
        )
        threading.Thread(target=self._read, args=(self.process, ready), daemon=True).start()
        if not ready.wait(self.ready_timeout) or not self.url:
            self.kill()
            tail = "\n".join(self.output()[-30:])
            raise RuntimeError(f"devhost did not become ready:\n{tail}")

    def _read(self, process: subprocess.Popen[str], ready: threading.Event) -> None:
        """Collect one process's output; `ready` is set on its ready line or its exit."""
        assert process.stdout is not None
        for raw in process.stdout:
            line = raw.rstrip("\n")
            with self._lock:
                self._lines.append(line)
            if self.echo:
                print(f"[devhost] {line}", flush=True)
            found = READY.search(line)
            if found and not ready.is_set():
                self.url = found.group(1)
                self.port = int(self.url.rsplit(":", 1)[1])
                ready.set()
        ready.set()

    def kill(self) -> None:
        """SIGKILL, like a crash: nothing gets to clean up."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)

    def stop(self) -> int | None:
        """SIGTERM and wait; returns the exit code."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        return self.process.returncode

    def restart(self) -> None:
        """Kill if alive, then start again on the same data dir and port."""
        self.kill()
        self.start_process()

    def output(self) -> list[str]:
        """Every line devhost printed so far (stdout and stderr), across restarts."""
        with self._lock:
            return list(self._lines)

    def printed(self, text: str, timeout: float = 10.0) -> bool:
        """Whether a line containing `text` appears within `timeout` seconds (the output
        is read by a thread, so a line can trail the HTTP answer it belongs to)."""
        deadline = time.monotonic() + timeout
        while not any(text in line for line in self.output()):
            if time.monotonic() > deadline:
                return False
            time.sleep(0.02)
        return True

    # management API ------------------------------------------------------------------

    @property
    def webhook(self) -> str:
        """Base URL of the durable management API."""
        return f"{self.url}/runtime/webhooks/durabletask"

    def start(
        self,
        name: str,
        input: Any = None,
        instance_id: str | None = None,
        version: str | None = None,
    ) -> str:
        """Start an orchestration (input double-encoded, as the SDK's client sends it)."""
        path = f"{self.webhook}/orchestrators/{name}" + (f"/{instance_id}" if instance_id else "")
        body = None if input is None else json.dumps(json.dumps(input))
        response = self.session.post(
            path,
            data=body,
            params={"version": version} if version is not None else None,
            headers={"Content-Type": "application/json"},
            timeout=10,
        )
        response.raise_for_status()
        return str(response.json()["id"])

    def status(self, instance_id: str, history: bool = False) -> dict[str, Any] | None:
        """The instance's status JSON, or None when unknown."""
        params = {"showHistory": "true", "showHistoryOutput": "true"} if history else {}
        response = self.session.get(
            f"{self.webhook}/instances/{instance_id}", params=params, timeout=10
        )
        if response.status_code == 404:
            return None
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

    def raw_history(self, instance_id: str) -> list[dict[str, Any]]:
        """The stored DurableTask history (`GET /admin/instances/<id>/history`)."""
        response = self.session.get(f"{self.url}/admin/instances/{instance_id}/history", timeout=10)
        response.raise_for_status()
        events: list[dict[str, Any]] = response.json()
        return events

    def wait(
        self, instance_id: str, timeout: float = 30.0, interval: float = 0.05
    ) -> dict[str, Any]:
        """Poll until the instance is no longer Pending/Running/Suspended."""
        deadline = time.monotonic() + timeout
        status: dict[str, Any] | None = None
        while time.monotonic() < deadline:
            status = self.status(instance_id)
            if status is not None and status["runtimeStatus"] not in ACTIVE:
                return status
            time.sleep(interval)
        raise TimeoutError(f"{instance_id} still {status and status['runtimeStatus']}")

    def raise_event(self, instance_id: str, name: str, data: Any = None) -> int:
        """POST raiseEvent (data double-encoded, as the SDK's client sends it)."""
        response = self.session.post(
            f"{self.webhook}/instances/{instance_id}/raiseEvent/{name}",
            data=json.dumps(json.dumps(data)),
            headers={"Content-Type": "application/json"},
            timeout=10,
        )
        return response.status_code


@contextmanager
def running_devhost(
    app_dir: str | Path,
    data_dir: str | Path | None = None,
    *,
    env: Mapping[str, str] | None = None,
    port: int | None = None,
    ready_timeout: float = 30.0,
    extra_args: Sequence[str] = (),
) -> Iterator[DevhostProcess]:
    """devhost serving APP_DIR in a subprocess until the block ends (then SIGTERM).

    `extra_args` go to the command line (e.g. `["--require-keys"]`).
    """
    app_path = Path(app_dir).resolve()
    data_path = Path(data_dir) if data_dir is not None else app_path / ".devhost"
    host = DevhostProcess(
        app_path,
        data_path,
        env=env,
        port=port,
        ready_timeout=ready_timeout,
        extra_args=extra_args,
    )
    host.start_process()
    try:
        yield host
    finally:
        host.stop()
