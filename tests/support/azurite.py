"""A real Azurite Table service for tests, started from the project's own npm install.

Tests of the ledger run against the same emulator Azure's docs use, never a fake, so a
missing install is a failure (telling you to run `make setup`), not a skip.
"""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from localrun.azurite import ACCOUNT, ACCOUNT_KEY

REPO_ROOT = Path(__file__).resolve().parents[2]
BIN_DIR = REPO_ROOT / "node_modules" / ".bin"
START_TIMEOUT_SECONDS = 30.0


class AzuriteError(RuntimeError):
    """Azurite is not installed, or did not start."""


def azurite_command() -> list[str]:
    """The Table-only Azurite binary (or the all-services one) from node_modules."""
    for name in ("azurite-table", "azurite"):
        path = BIN_DIR / name
        if path.exists():
            return [str(path)]
    raise AzuriteError(
        f"Azurite is not installed ({BIN_DIR}/azurite-table is missing): run `make setup`"
    )


def table_connection_string(port: int, host: str = "127.0.0.1") -> str:
    """A connection string for Azurite's well-known dev account on this port."""
    return (
        f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={ACCOUNT_KEY};"
        f"TableEndpoint=http://{host}:{port}/{ACCOUNT};"
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _accepts_connections(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


@contextmanager
def running_azurite(tmpdir: Path) -> Iterator[str]:
    """Start Azurite's Table service on a free port; yield its connection string.

    Data lives in memory (the temp folder is Azurite's working folder and holds its log);
    the process is stopped on exit, whatever happens in the block.
    """
    command = azurite_command()
    tmpdir.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    log_path = tmpdir / "azurite.log"
    argv = [
        *command,
        "--tableHost", "127.0.0.1",
        "--tablePort", str(port),
        "--inMemoryPersistence",
        "--skipApiVersionCheck",
        "--loose",
        "--disableProductStyleUrl",
        "--disableTelemetry",
        "--silent",
    ]  # fmt: skip
    if command[0].endswith("azurite"):  # the all-services binary: keep the others out of the way
        argv += ["--blobPort", str(_free_port()), "--queuePort", str(_free_port())]
    with log_path.open("wb") as log:
        process = subprocess.Popen(  # our own argv, no shell
            argv,
            cwd=tmpdir,  # nothing Azurite might write lands in the repo
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    try:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while not _accepts_connections(port):
            if process.poll() is not None:
                raise AzuriteError(
                    f"Azurite exited with code {process.returncode}:\n{log_path.read_text()}"
                )
            if time.monotonic() > deadline:
                raise AzuriteError(
                    f"Azurite did not listen on port {port} within {START_TIMEOUT_SECONDS:.0f}s:"
                    f"\n{log_path.read_text()}"
                )
            time.sleep(0.05)
        yield table_connection_string(port)
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
