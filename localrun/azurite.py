"""Azurite, the Azure Storage emulator (npm package `azurite`), as a child process."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from localrun.processes import ReadyProcess, StartupError, free_ports, port_is_free

REPO_ROOT = Path(__file__).resolve().parent.parent
AZURITE_BIN = REPO_ROOT / "node_modules" / ".bin" / "azurite"

# Azurite's well-known development account; public by design, not a secret.
ACCOUNT = "devstoreaccount1"
ACCOUNT_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)


@dataclass(frozen=True)
class AzuritePorts:
    blob: int
    queue: int
    table: int

    @classmethod
    def pick(cls, preferred: tuple[int, int, int] = (10000, 10001, 10002)) -> AzuritePorts:
        """The usual ports when free, else free ones (so a second stack can run)."""
        if all(port_is_free(p) for p in preferred):
            return cls(*preferred)
        return cls.free()

    @classmethod
    def free(cls) -> AzuritePorts:
        """Three different free ports."""
        blob, queue, table = free_ports(3)
        return cls(blob, queue, table)


def connection_string(ports: AzuritePorts) -> str:
    """A connection string addressing this Azurite's three services."""
    base = "http://127.0.0.1"
    return (
        f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={ACCOUNT_KEY};"
        f"BlobEndpoint={base}:{ports.blob}/{ACCOUNT};"
        f"QueueEndpoint={base}:{ports.queue}/{ACCOUNT};"
        f"TableEndpoint={base}:{ports.table}/{ACCOUNT};"
    )


def start_azurite(
    ports: AzuritePorts, *, data_dir: Path | None = None, echo: bool = False
) -> ReadyProcess:
    """Start Azurite (all three services); in memory unless a data folder is given."""
    if not AZURITE_BIN.exists():
        raise StartupError(f"{AZURITE_BIN} is missing: run `make setup` first")
    argv = [
        str(AZURITE_BIN),
        "--blobPort", str(ports.blob),
        "--queuePort", str(ports.queue),
        "--tablePort", str(ports.table),
        "--skipApiVersionCheck",
        "--loose",
        "--disableProductStyleUrl",
    ]  # fmt: skip
    if data_dir is None:
        argv.append("--inMemoryPersistence")
    else:
        data_dir.mkdir(parents=True, exist_ok=True)
        argv += ["--location", str(data_dir)]
    process = ReadyProcess(
        "azurite", argv, ready=r"Table service is successfully listening", echo=echo
    )
    process.wait_ready(timeout=60)
    return process
