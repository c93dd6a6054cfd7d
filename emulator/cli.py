"""`python -m emulator`: serve until interrupted, after printing the ready line."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from collections.abc import Sequence
from typing import Any

from emulator.config import ConfigError
from emulator.proxy import ProxySettings
from emulator.script import ScriptError
from emulator.server import base_url, bind, build_state, make_server

DEFAULT_PORT = 8089
READY_LINE = "emulator listening on {url}"

# option name -> control name, for the controls that are also CLI options
_CONTROL_OPTIONS = (
    ("latency_ms", "model latency per turn, ms: N, A-B (uniform) or exp:MEAN"),
    ("request_latency_ms", "delay before every HTTP answer, ms (same forms)"),
    ("rate_429", "probability of a 429 answer"),
    ("rate_500", "probability of a 500 answer"),
    ("rate_503", "probability of a 503 answer"),
    ("rate_drop", "probability of dropping the connection mid-answer"),
    ("rate_lost", "probability of handling a request, then dropping its answer"),
    ("retry_after", "retry-after header of 429 answers, seconds ('none' to omit)"),
    ("retry_after_ms", "retry-after-ms header of 429 answers ('none' to omit)"),
    ("run_fail_rate", "probability that a run or background response fails"),
    ("run_expire_rate", "probability that a run expires"),
    ("poll_after_ms", "openai-poll-after-ms on runs and responses (default 1000; 'none' to omit)"),
    ("run_expiry_seconds", "seconds after creation before an unfinished run expires"),
    ("token_lifetime_seconds", "lifetime of the tokens the identity endpoint issues"),
    ("seed", "seed of the random faults and latencies"),
)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line (see docs/emulator.md)."""
    parser = argparse.ArgumentParser(
        prog="python -m emulator",
        description="Azure OpenAI emulator: Assistants v2 and Responses with a scripted model.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="0 picks a free port")
    parser.add_argument("--api-key", help="require this key (api-key header or Bearer)")
    parser.add_argument(
        "--token",
        help="require this bearer token, or one the identity endpoint issued (signed with it)",
    )
    parser.add_argument(
        "--identity-header",
        help="serve /_identity/token to callers sending this X-IDENTITY-HEADER (default: --token)",
    )
    parser.add_argument(
        "--script",
        action="append",
        help="script file (repeatable); default: the bundled scripts/seed.json",
    )
    parser.add_argument("--proxy-url", help="play turns with this chat-completions base URL")
    parser.add_argument("--proxy-key", help="key for the proxy URL (api-key and Bearer)")
    parser.add_argument("--proxy-model", help="model or deployment to ask (default: the request's)")
    parser.add_argument("--proxy-api-version", help="api-version query for an Azure proxy URL")
    parser.add_argument("--log-level", default="warning")
    for name, text in _CONTROL_OPTIONS:
        parser.add_argument("--" + name.replace("_", "-"), dest=name, help=text)
    return parser.parse_args(argv)


def _controls(args: argparse.Namespace) -> dict[str, Any]:
    controls: dict[str, Any] = {}
    for name, _ in _CONTROL_OPTIONS:
        value = getattr(args, name)
        if value is not None:
            controls[name] = None if value.lower() == "none" else value
    return controls


async def _serve(args: argparse.Namespace) -> None:
    proxy = None
    if args.proxy_url:
        proxy = ProxySettings(
            url=args.proxy_url,
            api_key=args.proxy_key,
            model=args.proxy_model,
            api_version=args.proxy_api_version,
        )
    state = build_state(
        api_key=args.api_key,
        token=args.token,
        identity_header=args.identity_header,
        script=args.script,
        proxy=proxy,
        **_controls(args),
    )
    sock = bind(args.host, args.port)
    server = make_server(state, args.log_level)
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started and not serving.done():
        await asyncio.sleep(0.01)
    if server.started:
        print(READY_LINE.format(url=base_url(sock)), flush=True)  # the launcher waits for it
    await serving


def _exit_quietly(signum: int, frame: object) -> None:
    raise SystemExit(0)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the emulator; exit status 2 for unusable options or scripts."""
    args = parse_args(argv)
    # uvicorn shuts down gracefully on SIGTERM, then re-raises it to the handler that
    # was there before: make that one exit with 0 (it also stops a starting server).
    signal.signal(signal.SIGTERM, _exit_quietly)
    try:
        asyncio.run(_serve(args))
    except (ConfigError, ScriptError, OSError) as error:
        sys.stderr.write(f"emulator: {error}\n")
        return 2
    except KeyboardInterrupt:
        return 0
    return 0
