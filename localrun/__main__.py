"""Entry point of `make run`; see the package docstring."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import tempfile
import time
from pathlib import Path
from types import FrameType
from typing import Any

import requests

from localrun.azurite import REPO_ROOT, AzuritePorts, connection_string, start_azurite
from localrun.processes import ReadyProcess, StartupError, free_port, port_is_free

SEED_QUESTION = "How many flights do we have between my cat Mike born date and Easter 2021?"
EMULATOR_KEY = "local-emulator-key"  # the local emulator's own key; no real service accepts it

# Embedded defaults: a fresh clone runs with no settings file at all.
DEFAULT_SETTINGS = {
    "FUNCTIONS_WORKER_RUNTIME": "python",
    "AZURE_OPENAI_DEPLOYMENT": "gpt-4o-mini",
    "OPENAI_API_VERSION": "2024-05-01-preview",
    "TASKHUB_NAME": "durableassistant",
    "PURGE_SCHEDULE": "0 0 3 * * *",
}


def local_settings(app_dir: Path) -> dict[str, str]:
    """`Values` of local.settings.json, when the user has one."""
    path = app_dir / "local.settings.json"
    if not path.exists():
        return {}
    values = json.loads(path.read_text()).get("Values", {})
    return {str(k): str(v) for k, v in values.items()}


def ask(base_url: str, question: str, wait_seconds: int) -> dict[str, Any]:
    """POST the question and wait for the run to end (the API's ?wait=N, then polling).

    Returns the run as `GET /api/runs/{id}` shows it (the body every run route answers).
    """
    reply = requests.post(
        f"{base_url}/api/runs",
        params={"wait": wait_seconds},
        json={"question": question},
        timeout=wait_seconds + 30,
    )
    run: dict[str, Any] = reply.json()
    if reply.status_code not in (200, 202):
        return {"error": run}
    for _ in range(wait_seconds * 2):
        if run.get("done"):
            break
        time.sleep(0.5)
        run = requests.get(run["links"]["status"], timeout=10).json()
    return run


class LocalStack:
    """The services `make run` starts, stopped in reverse order on exit or Ctrl-C."""

    def __init__(self, app_dir: Path, data_dir: Path, env: dict[str, str]) -> None:
        self.app_dir = app_dir
        self.data_dir = data_dir
        self.env = env
        self.started: list[ReadyProcess] = []

    def start_storage(self) -> None:
        ports = AzuritePorts.pick()
        self.started.append(start_azurite(ports, data_dir=self.data_dir / "azurite"))
        self.env["AzureWebJobsStorage"] = connection_string(ports)
        print(f"azurite: blob {ports.blob}, queue {ports.queue}, table {ports.table}")

    def start_model(self) -> None:
        """The emulator, unless the settings name a real Azure OpenAI endpoint."""
        if "AZURE_OPENAI_ENDPOINT" in self.env:
            print(f"model: Azure OpenAI at {self.env['AZURE_OPENAI_ENDPOINT']}")
            return
        emulator = ReadyProcess(
            "emulator",
            [sys.executable, "-m", "emulator", "--port", str(free_port()),
             "--api-key", EMULATOR_KEY],
            ready=r"emulator listening on (\S+)",
            cwd=self.app_dir,
        )  # fmt: skip
        self.started.append(emulator)
        self.env["AZURE_OPENAI_ENDPOINT"] = emulator.wait_ready(30).group(1)
        self.env["AZURE_OPENAI_API_KEY"] = EMULATOR_KEY
        print(f"model: emulator at {self.env['AZURE_OPENAI_ENDPOINT']}")

    def start_app(self, port: int, *, echo: bool) -> str:
        """devhost with our function_app.py; returns its base URL."""
        port = port if port_is_free(port) else free_port()
        devhost = ReadyProcess(
            "devhost",
            [sys.executable, "-m", "devhost", str(self.app_dir), "--port", str(port),
             "--data-dir", str(self.data_dir / "devhost")],
            ready=r"devhost listening on (\S+)",
            cwd=self.app_dir,
            env=self.env,
            echo=echo,
        )  # fmt: skip
        self.started.append(devhost)
        base_url = devhost.wait_ready(60).group(1)
        print(f"app: {base_url}/api/runs", flush=True)
        return base_url

    def all_alive(self) -> bool:
        return all(p.process.poll() is None for p in self.started)

    def stop(self) -> None:
        for process in reversed(self.started):
            process.stop()


def print_result(run: dict[str, Any]) -> bool:
    """Print the answer and the run's URL; False (and the whole run) when no answer."""
    answer = run.get("answer")
    links = run.get("links") or {}
    print(f"answer: {answer}", flush=True)
    print(f"status: {links.get('status')}", flush=True)
    if not answer:
        print(json.dumps(run, indent=2), flush=True)
    return bool(answer)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m localrun", description=__doc__)
    parser.add_argument("--port", type=int, default=7071, help="devhost port (default 7071)")
    parser.add_argument("--question", default=SEED_QUESTION)
    parser.add_argument("--backend", choices=["assistants", "responses"], default=None)
    parser.add_argument("--once", action="store_true", help="exit after the answer")
    parser.add_argument("--data-dir", type=Path, default=None, help="default: .run/ in the repo")
    args = parser.parse_args(argv)

    data_dir = args.data_dir or (REPO_ROOT / ".run")
    if args.once and args.data_dir is None:
        data_dir = Path(tempfile.mkdtemp(prefix="localrun-"))
    env = {**DEFAULT_SETTINGS, **local_settings(REPO_ROOT)}
    if args.backend:
        env["ASSISTANT_BACKEND"] = args.backend
    stack = LocalStack(REPO_ROOT, data_dir, env)

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stack.stop()
        print("\nstopped devhost, emulator and azurite", flush=True)
        sys.exit(0)

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        stack.start_storage()
        stack.start_model()
        base_url = stack.start_app(args.port, echo=not args.once)
        print(f"asking: {args.question}", flush=True)
        if not print_result(ask(base_url, args.question, wait_seconds=60)):
            return 1
        if args.once:
            return 0
        print("serving; press Ctrl-C to stop", flush=True)
        while stack.all_alive():
            time.sleep(0.5)
        print("a service stopped unexpectedly", file=sys.stderr)
        return 1
    except (StartupError, requests.RequestException) as error:
        print(f"local run failed: {error}", file=sys.stderr)
        return 1
    finally:
        stack.stop()


if __name__ == "__main__":
    sys.exit(main())
