"""Child processes that announce readiness with a line on their output.

The one launcher of the local stack's child processes (Azurite, the emulator,
devhost) for `make run`, the tests and the bench. Standard library only, and no
import of the app, so any harness can use it.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path


class StartupError(RuntimeError):
    """A child process exited or stayed silent instead of becoming ready."""


def free_port() -> int:
    """A TCP port on the loopback interface that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def free_ports(count: int) -> list[int]:
    """`count` different free loopback ports: all held at once while they are picked,
    as a port given back may be handed out again at the next pick."""
    with contextlib.ExitStack() as held:
        socks = [held.enter_context(socket.socket()) for _ in range(count)]
        for sock in socks:
            sock.bind(("127.0.0.1", 0))
        return [int(sock.getsockname()[1]) for sock in socks]


def port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


class ReadyProcess:
    """A child process started with its output captured; ready when a line matches.

    Output is kept (for error messages and logs) and optionally echoed with a prefix,
    so the user of `make run` sees every service's log in one terminal.
    """

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        ready: str,
        cwd: Path | None = None,
        env: Mapping[str, str | None] | None = None,
        echo: bool = False,
    ) -> None:
        """Start `argv` in its own process group, in `cwd`, with this process's
        environment plus `env` (a None value removes the variable)."""
        self.name = name
        self._ready_pattern = re.compile(ready)
        self._ready = threading.Event()
        self._lines: list[str] = []
        self._echo = echo
        self._echo_lock = threading.Lock()
        self._held: list[str] | None = None
        self.match: re.Match[str] | None = None
        environment = dict(os.environ)
        for key, value in (env or {}).items():
            if value is None:
                environment.pop(key, None)
            else:
                environment[key] = value
        self.process = subprocess.Popen(  # noqa: S603  # our own argv, no shell
            list(argv),
            cwd=cwd,
            env=environment,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            bufsize=1,
            start_new_session=True,  # Ctrl-C in the terminal reaches us, and we stop it.
        )
        threading.Thread(target=self._pump, name=f"{name}-output", daemon=True).start()

    def _pump(self) -> None:
        assert self.process.stdout is not None
        for raw in self.process.stdout:
            line = raw.rstrip("\n")
            self._lines.append(line)
            if self._echo:
                self._say(line)
            if not self._ready.is_set():
                found = self._ready_pattern.search(line)
                if found:
                    self.match = found
                    self._ready.set()

    def _say(self, line: str) -> None:
        with self._echo_lock:
            if self._held is not None:
                self._held.append(line)
            else:
                print(f"[{self.name}] {line}", flush=True)

    @contextlib.contextmanager
    def echo_held(self) -> Iterator[None]:
        """Hold echoed lines while the terminal shows something else (an answer being
        written), and print them after, so the two never mix on one line."""
        with self._echo_lock:
            self._held = []
        try:
            yield
        finally:
            with self._echo_lock:
                held, self._held = self._held or [], None
                for line in held:
                    print(f"[{self.name}] {line}", flush=True)

    def wait_ready(self, timeout: float = 60.0) -> re.Match[str]:
        """Block until the ready line appears; raise with the output if it never does."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._ready.wait(0.05) and self.match is not None:
                return self.match
            if self.process.poll() is not None:
                time.sleep(0.1)  # let the pump read the last lines
                raise StartupError(
                    f"{self.name} exited with code {self.process.returncode}:\n" + self.output()
                )
        raise StartupError(f"{self.name} was not ready after {timeout:.0f}s:\n" + self.output())

    def output(self) -> str:
        """The last lines printed (stdout and stderr), for error messages."""
        return "\n".join(self._lines[-200:])

    def lines(self) -> list[str]:
        """Every line printed so far (stdout and stderr)."""
        return list(self._lines)

    def kill(self, timeout: float = 10.0) -> int | None:
        """SIGKILL to the whole process group, like a crash: nothing gets to clean up.
        Returns the exit code (-9 when it was still running)."""
        return self._signal(signal.SIGKILL, timeout)

    def stop(self, timeout: float = 10.0) -> int | None:
        """SIGTERM, then SIGKILL if it lingers (the whole process group); returns the
        exit code."""
        try:
            return self._signal(signal.SIGTERM, timeout)
        except subprocess.TimeoutExpired:
            return self.kill(timeout)

    def _signal(self, signum: signal.Signals, timeout: float) -> int | None:
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signum)
            self.process.wait(timeout)
        return self.process.returncode
