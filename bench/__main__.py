"""Entry point of `make bench`; see docs/bench.md for what it measures."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from contextlib import ExitStack
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bench.concurrent import BatchResult, by_app, format_batches, run_batch, warm_up
from bench.earlier_app import RevisionError, checked_out, commit_of
from bench.report import ScenarioResult, format_scenario, to_json
from bench.runner import (
    Approach,
    app_approach,
    baseline_approach,
    quiet_sdk_warnings,
    run_scenario,
    sdk_helpers_approach,
)
from bench.scenarios import SCENARIOS, SCRIPT_FILES, SEED
from bench.stack import Stack, running_stack
from durable_assistant.settings import Settings

BACKENDS = ("assistants", "responses")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="The notebook loop, the SDK helpers and the app, side by side.",
    )
    parser.add_argument("--runs", type=int, default=2, help="measured runs per approach (2)")
    parser.add_argument("--slow-runs", type=int, default=1, help="runs of the sleep-5 loop (1)")
    parser.add_argument("--warmup", type=int, default=1, help="unmeasured runs first (1)")
    parser.add_argument(
        "--sleeps", default="5,1", help="the notebook loop's sleeps per poll, in s (5,1)"
    )
    parser.add_argument(
        "--latencies",
        default="300,1000-2000,1500",
        help="model time per turn, one table each: N, A-B or exp:MEAN (300,1000-2000,1500)",
    )
    parser.add_argument(
        "--scenarios", default="seed,fanout16", help=f"comma-separated, of {list(SCENARIOS)}"
    )
    parser.add_argument(
        "--fanout-latency", default="300", help="model time per turn of the fan-out scenarios"
    )
    parser.add_argument(
        "--follow-seconds",
        type=float,
        default=None,
        help="the app's MODEL_FOLLOW_SECONDS (default: as shipped)",
    )
    parser.add_argument(
        "--no-polling-app", action="store_true", help="leave out the app with following off"
    )
    parser.add_argument(
        "--concurrent",
        default="",
        help="also post this many seed runs at once, per size (e.g. 50,200)",
    )
    parser.add_argument(
        "--concurrent-latency", default="1000-2000", help="model time per turn when concurrent"
    )
    parser.add_argument(
        "--concurrent-rounds",
        type=int,
        default=1,
        metavar="N",
        help="run each concurrent batch N times, the apps in turn, and pool them (1)",
    )
    parser.add_argument(
        "--against",
        default="",
        metavar="REV",
        help="in the concurrent batches, also the app as it was at this git revision",
    )
    parser.add_argument(
        "--against-devhost",
        action="store_true",
        help="serve the --against app with its own revision's devhost (default: this one's)",
    )
    parser.add_argument(
        "--no-poll-hint",
        action="store_true",
        help="the emulator sends no openai-poll-after-ms hint (it does by default, 1000 ms)",
    )
    parser.add_argument("--json", type=Path, default=None, help="also write every sample here")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a smoke run: 1 run, no warm-up, 300 ms and 1500 ms, no sleep-5 loop",
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.runs, args.warmup, args.sleeps, args.latencies = 1, 0, "1", "300,1500"
    unknown = [s for s in args.scenarios.split(",") if s and s not in SCENARIOS]
    if unknown:
        parser.error(f"unknown scenarios {unknown}; choose from {list(SCENARIOS)}")
    if args.against and not args.concurrent:
        parser.error("--against compares concurrent batches: give --concurrent too")
    if args.against_devhost and not args.against:
        parser.error("--against-devhost needs --against REV")
    if args.against:
        try:
            args.against = commit_of(args.against)
        except RevisionError as error:
            parser.error(str(error))
    if args.concurrent_rounds < 1:
        parser.error("--concurrent-rounds must be at least 1")
    if args.runs < 1 or args.warmup < 0 or args.slow_runs < 0:
        parser.error("--runs must be at least 1, --warmup and --slow-runs at least 0")
    return args


def batch_label(backend: str, name: str) -> str:
    return f"app, {backend}, {name}"


def cpu_references(earlier: list[str], modes: list[str]) -> dict[str, str]:
    """What each app's CPU per run is divided by in the concurrent tables: the earlier
    app (`--against`) of the same backend when there is one, else the polling app."""
    base = earlier[0] if earlier else "poll" if "poll" in modes else None
    if base is None:
        return {}
    return {
        batch_label(backend, name): batch_label(backend, base)
        for backend in BACKENDS
        for name in [*earlier, *modes]
    }


def app_modes(args: argparse.Namespace) -> dict[str, dict[str, str]]:
    """The app hosts to start: following turns (as shipped) and, unless left out, polling."""
    follow = args.follow_seconds
    if follow is None:
        follow = Settings.model_fields["model_follow_seconds"].default
    modes = {"follow": {"MODEL_FOLLOW_SECONDS": f"{follow:g}"}}
    if not args.no_polling_app:
        modes["poll"] = {"MODEL_FOLLOW_SECONDS": "0"}
    return modes


def approaches_for(stack: Stack, args: argparse.Namespace) -> list[Approach]:
    sleeps = [float(s) for s in args.sleeps.split(",") if s]
    approaches = [baseline_approach(stack, sleep) for sleep in sleeps]
    approaches.append(sdk_helpers_approach(stack))
    for mode, host in stack.apps.items():
        approaches += [app_approach(host, backend, mode) for backend in BACKENDS]
    return approaches


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # SIGTERM unwinds like Ctrl-C, so every service the bench started is stopped.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    quiet_sdk_warnings()
    modes = app_modes(args)
    header = [
        f"bench: {args.runs} measured runs per approach ({args.slow_runs} of the sleep-5 loop)"
        f" after {args.warmup} warm-up, interleaved, one at a time; {os.cpu_count()} CPUs;"
        " all on 127.0.0.1",
        "notebook loop: assistant, thread, message, run; retrieve, sleep, then act on that"
        " retrieve; tool calls one after another; then delete thread and assistant",
        "SDK helpers: the same with runs.create_and_poll / submit_tool_outputs_and_poll",
        "app: POST /api/runs?wait=60 to devhost running function_app.py, "
        + "; ".join(f"{m}: {' '.join(f'{k}={v}' for k, v in e.items())}" for m, e in modes.items())
        + (
            f"; in the concurrent batches also the app at {args.against} (its own defaults,"
            + (" its own devhost)" if args.against_devhost else " this devhost)")
            if args.against
            else ""
        ),
        "ideal: the model time the run's turns drew, plus the tool time of the critical path",
        "model service: the emulator, "
        + ("without a poll hint" if args.no_poll_hint else "hinting openai-poll-after-ms: 1000"),
        "model req: model-service requests per run; x sdk: over the SDK helpers'; table req:"
        " Table storage requests per run; act s: activity seconds per run (scheduled to"
        " completed); wakes: history events that woke the orchestrator; all medians",
    ]
    print("\n".join(header), flush=True)
    started = time.monotonic()
    results: list[ScenarioResult] = []
    batches: list[BatchResult] = []
    with ExitStack() as services:
        earlier = {}
        if args.against:
            label = f"at {args.against[:9]}" + (", its devhost" if args.against_devhost else "")
            earlier[label] = services.enter_context(checked_out(args.against))
        stack = services.enter_context(
            running_stack(SCRIPT_FILES, modes, earlier, earlier_devhost=args.against_devhost)
        )
        if args.no_poll_hint:
            stack.emulator.configure(poll_after_ms=None)
        approaches = approaches_for(stack, args)
        plan = [
            (SCENARIOS[name], latency)
            for name in args.scenarios.split(",")
            if name
            for latency in (args.latencies.split(",") if name == "seed" else [args.fanout_latency])
        ]
        for scenario, latency in plan:
            chosen = approaches if scenario is SEED else [a for a in approaches if not a.slow]
            result = run_scenario(
                stack,
                chosen,
                scenario,
                latency_ms=latency,
                runs=args.runs,
                warmup=args.warmup,
                slow_runs=args.slow_runs,
            )
            results.append(result)
            print("\n" + format_scenario(result), flush=True)
        counts = [int(n) for n in args.concurrent.split(",") if n]
        # The earlier app first, then this one's modes: each batch a backend at a time.
        batch_hosts = [*stack.earlier.items(), *stack.apps.items()]
        if counts:
            stack.emulator.configure(latency_ms=args.concurrent_latency)
            for _, host in batch_hosts:
                for backend in BACKENDS:
                    warm_up(host, backend, SEED, args.warmup)
        reference = cpu_references(list(stack.earlier), list(stack.apps))
        for count in counts:
            sized = [
                run_batch(host, backend, SEED, count, batch_label(backend, name))
                for _ in range(args.concurrent_rounds)
                for backend in BACKENDS
                for name, host in batch_hosts
            ]
            batches += sized
            table = format_batches(count, args.concurrent_latency, by_app(sized), reference)
            print("\n" + table, flush=True)
    print(f"\ntook {time.monotonic() - started:.0f} s (services included)", flush=True)
    if args.json is not None:
        settings: dict[str, Any] = {
            "runs": args.runs,
            "slow_runs": args.slow_runs,
            "warmup": args.warmup,
            "sleeps": args.sleeps,
            "latencies": args.latencies,
            "app_modes": modes,
            "against": args.against or None,
            "against_devhost": args.against_devhost,
            "poll_hint": not args.no_poll_hint,
            "cpus": os.cpu_count(),
        }
        document = to_json(results, settings)
        document["concurrent"] = [asdict(b) | {"runs_per_s": b.runs_per_s} for b in batches]
        args.json.write_text(json.dumps(document, indent=2) + "\n")
    failed = any(s.error for r in results for a in r.approaches for s in a.samples)
    failed = failed or any(b.ok < b.runs for b in batches)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
