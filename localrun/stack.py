"""The local stack: Azurite, the Azure OpenAI emulator and devhost on loopback ports,
with one dict of app settings, stopped together.

`make run`, the end-to-end tests and the benchmarks all start the stack here, so the
three services are launched one way and the app runs with the same settings
everywhere; each caller only adds what it needs (`overrides`).
"""

from __future__ import annotations

import secrets
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from durable_assistant.settings import Settings
from durable_assistant.tools.builtin import SEED_QUESTION
from emulator.identity import IDENTITY_PATH
from emulator.script import DEFAULT_SCRIPT
from emulator.testing import AdminClient
from localrun.azurite import REPO_ROOT, AzuritePorts, connection_string, start_azurite
from localrun.devhost_process import DevhostProcess, running_devhost
from localrun.processes import ReadyProcess, free_port

__all__ = [
    "API_VERSION", "DEPLOYMENT", "EMULATOR_KEY", "SEED_QUESTION", "Stack",
    "app_settings", "running_azurite", "running_model", "running_stack",
]  # fmt: skip

EMULATOR_KEY = "local-emulator-key"  # the local emulator's own key; no real service accepts it
"""For clients that call the emulator directly; the app itself uses its managed identity."""
DEPLOYMENT = "gpt-5.4-mini"
"""The deployment name the app asks the local emulator for (the documented default model)."""

API_VERSION: str = Settings.model_fields["openai_api_version"].default
"""The Assistants API version the app uses by default (clients of the stack use it too)."""


def app_settings(
    storage: str,
    model_url: str | None = None,
    identity: Mapping[str, str] | None = None,
    **overrides: str,
) -> dict[str, str]:
    """The app settings of the local stack: Azurite, a daily purge, and the emulator at
    `model_url`; without it, `overrides` name the model service.

    No API key: the app authenticates with its managed identity, as in Azure, through
    the App Service identity endpoint the emulator serves (`identity`: IDENTITY_ENDPOINT
    and IDENTITY_HEADER, which DefaultAzureCredential reads).
    """
    model = {} if model_url is None else {
        "AZURE_OPENAI_ENDPOINT": model_url,
        "AZURE_OPENAI_DEPLOYMENT": DEPLOYMENT,
        **(identity or {}),
    }  # fmt: skip
    return {
        "FUNCTIONS_WORKER_RUNTIME": "python",
        "PYTHON_ENABLE_INIT_INDEXING": "1",  # HTTP streams, as in Azure
        "AzureWebJobsStorage": storage,
        "TASKHUB_NAME": "durableassistant",
        "PURGE_SCHEDULE": "0 0 3 * * *",
        **model,
        **overrides,
    }


@contextmanager
def running_azurite(
    data_dir: Path | None = None, ports: AzuritePorts | None = None, *, echo: bool = False
) -> Iterator[str]:
    """Azurite on free ports (in memory unless `data_dir`); yields its connection string."""
    ports = ports or AzuritePorts.free()
    process = start_azurite(ports, data_dir=data_dir, echo=echo)
    try:
        yield connection_string(ports)
    finally:
        process.stop()


class EmulatorProcess(AdminClient):
    """The emulator as a child process, with its admin API (controls, live objects)."""

    def __init__(self, process: ReadyProcess, url: str, identity_header: str) -> None:
        super().__init__(url)
        self.process = process
        self.identity_env = {
            "IDENTITY_ENDPOINT": url + IDENTITY_PATH,
            "IDENTITY_HEADER": identity_header,
        }
        """Where the app's managed identity gets its tokens (the emulator accepts them)."""


@contextmanager
def running_model(
    *args: str, scripts: Sequence[Path] = (), echo: bool = False
) -> Iterator[EmulatorProcess]:
    """The emulator (the seed script plus `scripts`) on a free port, requiring EMULATOR_KEY
    or a token of its managed-identity endpoint (fresh secrets for each start)."""
    script_args = [a for path in [DEFAULT_SCRIPT, *scripts] for a in ("--script", str(path))]
    identity_header = secrets.token_urlsafe(24)
    argv = [sys.executable, "-m", "emulator", "--host", "127.0.0.1", "--port", str(free_port()),
            "--api-key", EMULATOR_KEY, f"--token={secrets.token_urlsafe(24)}",
            f"--identity-header={identity_header}", *script_args, *args]  # fmt: skip
    # (`=` forms: a random secret may start with "-", which argparse takes for an option)
    process = ReadyProcess(
        "emulator", argv, ready=r"emulator listening on (\S+)", cwd=REPO_ROOT, echo=echo
    )
    try:
        url = process.wait_ready(30).group(1)
        yield EmulatorProcess(process, url, identity_header)
    finally:
        process.stop()


@dataclass
class Stack:
    """The running services and the settings the app runs with."""

    storage: str
    model: EmulatorProcess | None
    app: DevhostProcess
    settings: dict[str, str]

    @property
    def emulator(self) -> EmulatorProcess:
        """The emulator; an error when the stack runs against a real endpoint."""
        if self.model is None:
            raise RuntimeError("this stack runs against a real Azure OpenAI endpoint")
        return self.model


@contextmanager
def running_stack(
    data_dir: Path,
    *,
    overrides: Mapping[str, str] | None = None,
    scripts: Sequence[Path] = (),
    model_args: Sequence[str] = (),
    real_model: bool = False,
    azurite_ports: AzuritePorts | None = None,
    port: int = 0,
    echo: bool = False,
    app_dir: Path = REPO_ROOT,
) -> Iterator[Stack]:
    """Azurite, the emulator (unless `real_model`: then `overrides` name the endpoint)
    and devhost serving `app_dir` (its log printed when `echo`); all stopped on exit,
    in reverse order.

    Azurite and devhost keep their data under `data_dir`, so a restarted devhost
    resumes its instances.
    """
    with ExitStack() as stack:
        storage = stack.enter_context(running_azurite(data_dir / "azurite", azurite_ports))
        model = None
        if not real_model:
            model = stack.enter_context(running_model(*model_args, scripts=scripts))
        settings = app_settings(
            storage,
            model.url if model else None,
            model.identity_env if model else None,
            **(overrides or {}),
        )
        app = stack.enter_context(
            running_devhost(app_dir, data_dir / "devhost", env=settings, port=port, echo=echo)
        )
        yield Stack(storage=storage, model=model, app=app, settings=settings)
