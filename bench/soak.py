"""Soak: many runs under model-service faults and host kills, then the purge.

`python -m bench.soak` (or `make soak`) starts the local stack (Azurite, the emulator,
devhost serving the app), makes the emulator answer 10 % of requests with a 429, 5 %
with a 5xx, drops 5 % of connections before handling and loses 2 % of replies after
handling, and starts RUNS runs of the seed question, alternating the two backends.
The host is SIGKILLed and restarted three times while they run. When every run is
over, faults are turned off, the purge runs, and the soak reports runs by outcome,
the objects still live at the emulator per kind, and the creates the ledger knows
may have left an object behind (docs/ledger.md: what no API can find again).

With `--outage S`, the model service is also out for S seconds (every request a 503)
once half the runs have started: runs in flight wait it out on durable timers.

Not part of `make test`: it takes minutes. Options: `--runs N`, `--seed S`,
`--outage S`, `--json`.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import requests

from durable_assistant.ledger import TableLedger
from localrun.stack import SEED_QUESTION, Stack, running_stack

RUNS = 200
KILLS = 3
WAVE = 20
"""Runs started at once; the next wave starts when the host has taken these."""

FAULTS: dict[str, Any] = {
    "rate_429": 0.10,
    "rate_500": 0.025,
    "rate_503": 0.025,
    "rate_drop": 0.05,
    "rate_lost": 0.02,
    "retry_after": None,
    "retry_after_ms": 200,
}
NO_FAULTS: dict[str, Any] = {k: 0.0 for k in FAULTS if k.startswith("rate_")}

SETTINGS = {
    "OPENAI_MAX_RETRIES": "1",
    "TASKHUB_NAME": "soak",
    "POLL_INITIAL_MS": "100",
    "POLL_MAX_MS": "500",
    "LEDGER_TABLE_NAME": "soakledger",
}
DONE_TIMEOUT_SECONDS = 1_200.0
OUTAGE_RETRY_LOG = "; calling again in "
"""The orchestration's log line when it waits an outage out (orchestrators/run.py)."""
REASON_CHARS = 110


def start_runs(base_url: str, count: int, offset: int) -> list[str]:
    """Start `count` runs (alternating backends); their instance ids."""
    ids: list[str] = []
    for n in range(offset, offset + count):
        backend = "assistants" if n % 2 == 0 else "responses"
        for _attempt in range(20):  # the host may be restarting
            try:
                reply = requests.post(
                    f"{base_url}/api/runs",
                    json={"question": SEED_QUESTION, "backend": backend},
                    timeout=30,
                )
            except requests.RequestException:
                time.sleep(0.5)
                continue
            if reply.status_code == 202:
                ids.append(str(reply.json()["id"]))
                break
            time.sleep(0.5)
    return ids


def status_of(base_url: str, instance_id: str) -> dict[str, Any] | None:
    try:
        reply = requests.get(f"{base_url}/api/runs/{instance_id}", timeout=30)
    except requests.RequestException:
        return None
    if reply.status_code != 200:
        return None
    body: dict[str, Any] = reply.json()
    return body


def wait_all_done(base_url: str, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """The final status of every run (those not done by the timeout as last seen)."""
    final: dict[str, dict[str, Any]] = {}
    deadline = time.monotonic() + DONE_TIMEOUT_SECONDS
    pending = list(ids)
    with ThreadPoolExecutor(8) as pool:
        while pending and time.monotonic() < deadline:
            statuses = list(pool.map(lambda i: (i, status_of(base_url, i)), pending))
            pending = []
            for instance_id, status in statuses:
                if status is not None and status.get("done"):
                    final[instance_id] = status
                else:
                    pending.append(instance_id)
                    if status is not None:
                        final[instance_id] = status
            if pending:
                time.sleep(2)
    return final


def outcome_of(status: dict[str, Any] | None) -> str:
    if status is None:
        return "unknown"
    if not status.get("done"):
        return f"not done ({status.get('runtime_status')})"
    return str(status.get("outcome") or status.get("runtime_status"))


def run_purge(stack: Stack) -> None:
    """Run the purge through the host's admin endpoint and wait for its log line."""
    before = len(stack.app.output())
    reply = requests.post(
        f"{stack.app.url}/admin/functions/purge_leftovers", json={"input": ""}, timeout=30
    )
    reply.raise_for_status()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if any("purge: found=" in line for line in stack.app.output()[before:]):
            return
        time.sleep(0.5)


def soak(runs: int, seed: int, outage: float = 0.0) -> dict[str, Any]:
    """Run the soak; its report."""
    with (
        tempfile.TemporaryDirectory(prefix="soak-") as tmp,
        running_stack(Path(tmp), overrides=SETTINGS) as stack,
    ):
        model = stack.emulator
        model.configure(seed=seed, **FAULTS)
        began = time.monotonic()
        ids: list[str] = []
        kill_at = {runs * (k + 1) // (KILLS + 1) for k in range(KILLS)}
        kills = 0
        while len(ids) < runs:
            wave = min(WAVE, runs - len(ids))
            if outage and len(ids) < runs // 2 <= len(ids) + wave:
                model.configure(faults=[{"fault": "503", "seconds": outage}])
            ids += start_runs(stack.app.url, wave, len(ids))
            if any(len(ids) - wave < at <= len(ids) for at in kill_at):
                time.sleep(2)  # let the wave get going: the kill lands mid-run
                stack.app.kill()
                stack.app.restart()
                kills += 1
        final = wait_all_done(stack.app.url, ids)
        elapsed = time.monotonic() - began
        model.configure(**NO_FAULTS)
        time.sleep(5)  # teardowns under way finish
        live_before_purge = model.live()
        run_purge(stack)
        time.sleep(2)
        live = model.live()
        ledger = TableLedger.from_connection_string(
            stack.settings["AzureWebJobsStorage"], SETTINGS["LEDGER_TABLE_NAME"]
        )
        open_intents = Counter(i.kind.value for i in ledger.open_intents())
        requests_by_route = model.counts()["requests"]
        outage_retries = sum(OUTAGE_RETRY_LOG in line for line in stack.app.output())
    outcomes = Counter(outcome_of(final.get(i)) for i in ids)
    reasons = Counter(
        str(final[i].get("error"))[:REASON_CHARS]
        for i in ids
        if i in final and final[i].get("outcome") not in (None, "completed")
    )
    return {
        "runs": len(ids),
        "kills": kills,
        "seconds": round(elapsed, 1),
        "faults": FAULTS,
        "outage_seconds": outage,
        "outcomes": dict(outcomes.most_common()),
        "reasons": dict(reasons.most_common()),
        "live_before_purge": live_before_purge,
        "live_after_purge": live,
        "unconfirmed_creates": dict(open_intents),
        "requests": sum(int(n) for n in requests_by_route.values()),
        "outage_retries": outage_retries,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__)
    parser.add_argument("--runs", type=int, default=RUNS)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--outage", type=float, default=0.0, help="seconds the model service is out midway"
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    args = parser.parse_args(argv)
    report = soak(args.runs, args.seed, args.outage)
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(f"soak: {report['runs']} runs, {report['kills']} host kills, {report['seconds']} s")
    print(f"faults: {report['faults']}")
    if report["outage_seconds"]:
        print(f"outage: every request a 503 for {report['outage_seconds']:g} s, midway")
    print("runs by outcome:")
    for outcome, n in report["outcomes"].items():
        print(f"  {outcome:<24} {n}")
    print("why runs did not complete:")
    for reason, n in report["reasons"].items():
        print(f"  {n:>4}  {reason}")
    print("live objects per kind, before the purge:", report["live_before_purge"])
    print("live objects per kind, after the purge: ", report["live_after_purge"])
    print("creates whose reply was lost (ledger, by kind):", report["unconfirmed_creates"])
    print("model calls made again after an outage:", report["outage_retries"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
