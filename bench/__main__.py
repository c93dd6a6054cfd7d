"""Entry point of `make bench`; see docs/bench.md for what it measures."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

from bench.report import ScenarioResult, format_scenario, to_json
from bench.runner import app_approach, baseline_approach, quiet_sdk_warnings, run_scenario
from bench.scenarios import SCENARIOS, SCRIPT_FILES
from bench.stack import running_stack
from durable_assistant.polling import GROWTH_FACTOR
from durable_assistant.settings import Settings


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench", description="The notebook loop against the app, side by side."
    )
    parser.add_argument("--runs", type=int, default=5, help="measured runs per approach (5)")
    parser.add_argument("--warmup", type=int, default=1, help="unmeasured runs first (1)")
    parser.add_argument(
        "--poll-seconds", type=float, default=1.0, help="the baseline's time.sleep per poll (1)"
    )
    parser.add_argument(
        "--latency-ms", default="300-900", help="model time per turn: N, A-B or exp:MEAN"
    )
    parser.add_argument(
        "--scenarios", default=",".join(SCENARIOS), help=f"comma-separated, of {list(SCENARIOS)}"
    )
    parser.add_argument(
        "--app-poll-initial-ms", type=int, default=None, help="app setting (default: as shipped)"
    )
    parser.add_argument(
        "--app-poll-max-ms", type=int, default=None, help="app setting (default: as shipped)"
    )
    parser.add_argument("--json", type=Path, default=None, help="also write every sample here")
    args = parser.parse_args(argv)
    unknown = [s for s in args.scenarios.split(",") if s not in SCENARIOS]
    if unknown:
        parser.error(f"unknown scenarios {unknown}; choose from {list(SCENARIOS)}")
    if args.runs < 1 or args.warmup < 0:
        parser.error("--runs must be at least 1 and --warmup at least 0")
    return args


def app_poll_settings(args: argparse.Namespace) -> dict[str, str]:
    """The app's polling settings: the shipped defaults unless overridden."""
    initial = args.app_poll_initial_ms or Settings.model_fields["poll_initial_ms"].default
    maximum = args.app_poll_max_ms or Settings.model_fields["poll_max_ms"].default
    return {"POLL_INITIAL_MS": str(initial), "POLL_MAX_MS": str(maximum)}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # SIGTERM unwinds like Ctrl-C, so every service the bench started is stopped.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    quiet_sdk_warnings()
    poll = app_poll_settings(args)
    names = args.scenarios.split(",")
    lines = [
        f"bench: {args.runs} measured runs per approach after {args.warmup} warm-up,"
        f" interleaved, one at a time; {os.cpu_count()} CPUs; all on 127.0.0.1",
        f"baseline: the notebook loop with the openai SDK (assistant, thread, message, run;"
        f" time.sleep({args.poll_seconds:g}) before every poll; tool calls one after another;"
        " then delete thread and assistant)",
        "app: POST /api/runs?wait=60 to devhost running function_app.py;"
        f" POLL_INITIAL_MS={poll['POLL_INITIAL_MS']} POLL_MAX_MS={poll['POLL_MAX_MS']}"
        f" (x{GROWTH_FACTOR:g} per poll); tools of a step run in parallel",
        "model: the Azure OpenAI emulator (scripted turns, same latency draws for every"
        " approach); requests = model-service requests per run (median);"
        " left = objects still live after the runs (all runs)",
    ]
    print("\n".join(lines), flush=True)
    started = time.monotonic()
    results: list[ScenarioResult] = []
    with running_stack(SCRIPT_FILES, poll) as stack:
        approaches = [
            baseline_approach(stack, args.poll_seconds),
            app_approach(stack, "assistants"),
            app_approach(stack, "responses"),
        ]
        for name in names:
            result = run_scenario(
                stack,
                approaches,
                SCENARIOS[name],
                latency_ms=args.latency_ms,
                runs=args.runs,
                warmup=args.warmup,
            )
            results.append(result)
            print("\n" + format_scenario(result), flush=True)
    print(f"\ntook {time.monotonic() - started:.0f} s (services included)", flush=True)
    if args.json is not None:
        settings: dict[str, Any] = {
            "runs": args.runs,
            "warmup": args.warmup,
            "baseline_poll_seconds": args.poll_seconds,
            "latency_ms": args.latency_ms,
            "app_settings": poll,
            "cpus": os.cpu_count(),
        }
        args.json.write_text(json.dumps(to_json(results, settings), indent=2) + "\n")
    failed = any(s.error for r in results for a in r.approaches for s in a.samples)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
