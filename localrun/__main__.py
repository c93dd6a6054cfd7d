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

from localrun.azurite import REPO_ROOT, AzuritePorts
from localrun.processes import StartupError, port_is_free
from localrun.stack import SEED_QUESTION, Stack, running_stack
from localrun.watch import watch

DEFAULT_PORT = 7071


def local_settings(app_dir: Path) -> dict[str, str]:
    """`Values` of local.settings.json, when the user has one."""
    path = app_dir / "local.settings.json"
    if not path.exists():
        return {}
    values = json.loads(path.read_text()).get("Values", {})
    return {str(k): str(v) for k, v in values.items()}


def ask(base_url: str, question: str, wait_seconds: int) -> dict[str, Any]:
    """POST the question, print the answer as the model writes it (the run's events),
    and return the run as `GET /api/runs/{id}` shows it once it ended."""
    reply = requests.post(f"{base_url}/api/runs", json={"question": question}, timeout=30)
    run: dict[str, Any] = reply.json()
    if reply.status_code not in (200, 202):
        return {"error": run}
    streamed: list[str] = []

    def show(text: str) -> None:
        if not streamed:
            print("answer: ", end="", flush=True)
        streamed.append(text)
        print(text, end="", flush=True)

    watch(run["links"]["events"], show, timeout=wait_seconds + 30)
    if streamed:
        print(flush=True)
    for _ in range(wait_seconds * 2):
        run = requests.get(run["links"]["status"], timeout=10).json()
        if run.get("done"):
            break
        time.sleep(0.5)
    run["streamed"] = "".join(streamed)
    return run


def print_result(run: dict[str, Any]) -> bool:
    """Print the answer (unless it was streamed) and the run's URL; False (and the
    whole run) when there is no answer."""
    answer = run.get("answer")
    links = run.get("links") or {}
    if not answer or run.get("streamed", "").strip() != answer.strip():
        print(f"answer: {answer}", flush=True)
    print(f"status: {links.get('status')}", flush=True)
    if not answer:
        print(json.dumps(run, indent=2), flush=True)
    return bool(answer)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m localrun", description=__doc__)
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help=f"devhost port (default {DEFAULT_PORT})"
    )
    parser.add_argument("--question", default=SEED_QUESTION)
    parser.add_argument("--backend", choices=["assistants", "responses"], default=None)
    parser.add_argument("--once", action="store_true", help="exit after the answer")
    parser.add_argument("--data-dir", type=Path, default=None, help="default: .run/ in the repo")
    args = parser.parse_args(argv)

    data_dir = args.data_dir or (REPO_ROOT / ".run")
    if args.once and args.data_dir is None:
        data_dir = Path(tempfile.mkdtemp(prefix="localrun-"))
    overrides = local_settings(REPO_ROOT)
    overrides.pop("AzureWebJobsStorage", None)  # the stack's own Azurite
    if args.backend:
        overrides["ASSISTANT_BACKEND"] = args.backend
    real_model = "AZURE_OPENAI_ENDPOINT" in overrides

    def on_signal(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    try:
        with running_stack(
            data_dir,
            overrides=overrides,
            real_model=real_model,
            azurite_ports=AzuritePorts.pick(),
            port=args.port if port_is_free(args.port) else 0,
            echo=not args.once,
        ) as stack:
            return serve(stack, args.question, once=args.once)
    except KeyboardInterrupt:
        print("\nstopped devhost, emulator and azurite", flush=True)
        return 0
    except (StartupError, RuntimeError, requests.RequestException) as error:
        print(f"local run failed: {error}", file=sys.stderr)
        return 1


def serve(stack: Stack, question: str, *, once: bool) -> int:
    """Ask the question, print the answer; then keep serving until Ctrl-C (unless once)."""
    model = stack.settings.get("AZURE_OPENAI_ENDPOINT")
    print(f"model: {'emulator at ' if stack.model else 'Azure OpenAI at '}{model}", flush=True)
    print(f"app: {stack.app.url}/api/runs", flush=True)
    print(f"asking: {question}", flush=True)
    with stack.app.echo_held():
        answered = print_result(ask(stack.app.url, question, wait_seconds=60))
    if not answered:
        return 1
    if once:
        return 0
    print("serving; press Ctrl-C to stop", flush=True)
    while stack.app.process is not None and stack.app.process.poll() is None:
        time.sleep(0.5)
    print("a service stopped unexpectedly", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
