"""devhost as a child process, for the local stack and the tests:
`with running_devhost(app_dir) as host: ...`.

A process (not a thread) so tests can kill it like a crash and start it again on
the same data dir and port. It is started by `localrun.processes.ReadyProcess`, the
one launcher of the stack's processes. It lives here, beside the stack, rather than
in `devhost/`: devhost is a standalone tool that imports nothing of this repository,
while this is the harness's way to run it (devhost's own tests use it too).
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from subprocess import Popen
from typing import Any

import requests

from localrun.processes import ReadyProcess

READY = r"devhost listening on (http://[\w.\-]+:\d+)(?:\s|$)"
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
        devhost_root: Path | None = None,
    ) -> None:
        self.app_dir = Path(app_dir)
        self.devhost_root = devhost_root or PACKAGE_ROOT  # where `devhost` is imported from
        self.extra_args = list(extra_args)
        self.data_dir = Path(data_dir)
        self.env = dict(env or {})
        self.port = port or 0
        self.ready_timeout = ready_timeout
        self.echo = echo  # print each output line as it comes (a terminal user's view)
        self.url = ""
        self._runs: list[ReadyProcess] = []  # one for each start, the current one last
        self.session = requests.Session()

    # process -------------------------------------------------------------------------

    @property
    def process(self) -> Popen[str] | None:
        """The current (or last) devhost process; None before the first start."""
        return self._runs[-1].process if self._runs else None

    def start_process(self) -> None:
        """Start devhost and wait for its ready line (on the same port once known)."""
        inherited = self.env.get("PYTHONPATH", os.environ.get("PYTHONPATH", ""))
        pythonpath = os.pathsep.join(p for p in (str(self.devhost_root), inherited) if p)
        # `-P`: the working directory (the app's) is not put first on the import path,
        # so an app folder that holds a `devhost` of its own (an earlier checkout) is
        # still served by the one at `devhost_root`; devhost puts the app first itself.
        command = [
            sys.executable, "-P", "-m", "devhost", str(self.app_dir),
            "--port", str(self.port), "--data-dir", str(self.data_dir), *self.extra_args,
        ]  # fmt: skip
        run = ReadyProcess(
            "devhost",
            command,
            ready=READY,
            cwd=self.app_dir,
            env={**self.env, "PYTHONPATH": pythonpath, "PYTHONUNBUFFERED": "1"},
            echo=self.echo,
        )
        self._runs.append(run)
        self.url = ""
        try:
            self.url = run.wait_ready(self.ready_timeout).group(1)
        except BaseException:
            run.kill()
            raise
        self.port = int(self.url.rsplit(":", 1)[1])

    @contextmanager
    def echo_held(self) -> Iterator[None]:
        """While the block runs, devhost's echoed lines wait (see `ReadyProcess`)."""
        if not self._runs:
            yield
            return
        with self._runs[-1].echo_held():
            yield

    def kill(self) -> None:
        """SIGKILL, like a crash: nothing gets to clean up."""
        if self._runs:
            self._runs[-1].kill()

    def stop(self) -> int | None:
        """SIGTERM (SIGKILL if it lingers) and wait; returns the exit code."""
        return self._runs[-1].stop(15) if self._runs else None

    def restart(self) -> None:
        """Kill if alive, then start again on the same data dir and port."""
        self.kill()
        self.start_process()

    def output(self) -> list[str]:
        """Every line devhost printed so far (stdout and stderr), across restarts."""
        return [line for run in self._runs for line in run.lines()]

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

    def episode_totals(self) -> tuple[int, float] | None:
        """Orchestrator episodes the host has run and their CPU seconds
        (`GET /admin/episodes`); None from a devhost without that endpoint."""
        response = self.session.get(f"{self.url}/admin/episodes", timeout=10)
        if response.status_code == 404:
            return None
        response.raise_for_status()
        totals = response.json()
        return int(totals["episodes"]), float(totals["cpu_seconds"])

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
    echo: bool = False,
    devhost_root: Path | None = None,
) -> Iterator[DevhostProcess]:
    """devhost serving APP_DIR in a subprocess until the block ends (then SIGTERM).

    `extra_args` go to the command line (e.g. `["--require-keys"]`); `echo` prints its
    log as it comes; `devhost_root`: the checkout devhost is run from (this one unless
    given, e.g. an earlier revision's for the bench).
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
        echo=echo,
        devhost_root=devhost_root,
    )
    host.start_process()
    try:
        yield host
    finally:
        host.stop()
