"""Start what the bench measures against, on loopback only, and stop it all after.

The same three services as the end-to-end tests, through the same helpers:
Azurite (the ledger's Table storage), the Azure OpenAI emulator as its own process
(so its work does not share the bench's interpreter with the baseline), and devhost
serving the repository's `function_app.py`.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from devhost.testing import DevhostProcess, running_devhost
from emulator.script import DEFAULT_SCRIPT
from emulator.testing import EmulatorProcess, emulator_process
from tests.support.azurite import running_azurite

REPO_ROOT = Path(__file__).resolve().parent.parent
EMULATOR_KEY = "bench-emulator-key"  # the local emulator's own key; no real service accepts it
DEPLOYMENT = "gpt-4o-mini"
API_VERSION = "2024-05-01-preview"
TOOL_MODULE = "bench.slow_tools"


def app_settings(emulator_url: str, storage: str, extra: Mapping[str, str]) -> dict[str, str]:
    """The app's settings: the emulator, Azurite, the bench's tool; polling as shipped."""
    return {
        "AZURE_OPENAI_ENDPOINT": emulator_url,
        "AZURE_OPENAI_API_KEY": EMULATOR_KEY,
        "AZURE_OPENAI_DEPLOYMENT": DEPLOYMENT,
        "OPENAI_API_VERSION": API_VERSION,
        "AzureWebJobsStorage": storage,
        "TASKHUB_NAME": "bench",
        "PURGE_SCHEDULE": "0 0 3 * * *",
        "TOOL_MODULES": TOOL_MODULE,
        **extra,
    }


@dataclass
class Stack:
    """The running services."""

    emulator: EmulatorProcess
    app: DevhostProcess


@contextmanager
def running_stack(
    scripts: list[Path], extra_settings: Mapping[str, str] | None = None
) -> Iterator[Stack]:
    """Azurite, the emulator (seed script plus `scripts`) and devhost; all stopped on exit."""
    script_args = [arg for path in [DEFAULT_SCRIPT, *scripts] for arg in ("--script", str(path))]
    with (
        tempfile.TemporaryDirectory(prefix="bench-") as tmp,
        running_azurite(Path(tmp) / "azurite") as storage,
        emulator_process("--host", "127.0.0.1", "--api-key", EMULATOR_KEY, *script_args) as emu,
    ):
        settings = app_settings(emu.url, storage, extra_settings or {})
        with running_devhost(REPO_ROOT, data_dir=Path(tmp) / "devhost", env=settings) as app:
            yield Stack(emulator=emu, app=app)
