"""Many runs at once against one devhost: throughput, latency spread, host CPU per run.

N callers post the seed question at the same moment (`POST /api/runs?wait=N`, one
thread each) and wait for their answers. Reported: runs per second over the
whole batch, p50/p95 of the callers' waits, and the CPU seconds the devhost
process used per run (user + system, from /proc: Linux only), which is where
orchestrator episodes, activities and polling show; and, from devhost's own count
(`GET /admin/episodes`), the orchestrator episodes per run and the CPU seconds their
threads spent, the orchestrations' part of that CPU.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import requests

from bench.report import percentile
from bench.scenarios import Scenario
from localrun.devhost_process import DevhostProcess

WAIT_SECONDS = 120


@dataclass(frozen=True)
class BatchResult:
    """One batch of concurrent runs on one app mode and backend."""

    label: str
    runs: int
    ok: int
    wall_s: float
    p50_s: float | None
    p95_s: float | None
    cpu_s_per_run: float | None
    errors: tuple[str, ...] = ()
    rounds: int = 1
    cpu_s_range: tuple[float, float] | None = None  # the rounds' lowest and highest
    episodes_per_run: float | None = None  # orchestrator episodes (devhost's count)
    episode_cpu_s_per_run: float | None = None  # the CPU seconds those episodes took

    @property
    def runs_per_s(self) -> float:
        return self.ok / self.wall_s if self.wall_s > 0 else 0.0


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of a process and its waited-for children (Linux)."""
    stat = Path(f"/proc/{pid}/stat")
    if not stat.exists():
        return None
    fields = stat.read_text().rsplit(")", 1)[1].split()
    ticks = sum(int(v) for v in fields[11:15])  # utime, stime, cutime, cstime
    return ticks / os.sysconf("SC_CLK_TCK")


def post_run(host: DevhostProcess, backend: str, scenario: Scenario) -> requests.Response:
    """Ask the scenario's question and wait for the answer (`?wait`)."""
    return requests.post(
        f"{host.url}/api/runs",
        params={"wait": WAIT_SECONDS},
        json={"question": scenario.question, "backend": backend, "tools": scenario.tool_names},
        timeout=WAIT_SECONDS + 30,
    )


def warm_up(host: DevhostProcess, backend: str, scenario: Scenario, runs: int) -> None:
    """Unmeasured runs one at a time first, so a batch's CPU seconds are the runs'
    own and not the host's one-time imports and connections."""
    for _ in range(runs):
        reply = post_run(host, backend, scenario)
        instance_id = reply.json().get("id") if reply.ok else None
        if instance_id is not None:
            host.wait(str(instance_id), timeout=WAIT_SECONDS)


def run_batch(
    host: DevhostProcess, backend: str, scenario: Scenario, count: int, label: str
) -> BatchResult:
    """`count` runs posted at once; every caller's wait, the batch's wall time, and
    the CPU devhost spent until every run's orchestration ended."""
    pid = host.process.pid if host.process is not None else None

    ids: list[str] = []

    def one(_: int) -> tuple[float, str | None]:
        started = time.perf_counter()
        try:
            reply = post_run(host, backend, scenario)
            body = reply.json() if reply.status_code == 200 else {}
            if "id" in body:
                ids.append(str(body["id"]))
            if body.get("outcome") != "completed" or not scenario.check(str(body.get("answer"))):
                return time.perf_counter() - started, f"{reply.status_code}: {reply.text[:120]}"
        except requests.RequestException as error:
            return time.perf_counter() - started, type(error).__name__
        return time.perf_counter() - started, None

    episodes_before = host.episode_totals()  # before the CPU count: the request costs some
    cpu_before = cpu_seconds(pid) if pid is not None else None
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=count) as pool:
        outcomes = list(pool.map(one, range(count)))
    wall = time.perf_counter() - started
    for instance_id in ids:  # a reply may come before its run's teardown ends
        host.wait(instance_id, timeout=WAIT_SECONDS)
    cpu_after = cpu_seconds(pid) if pid is not None else None
    episodes_after = host.episode_totals()
    waits = [seconds for seconds, error in outcomes if error is None]
    errors = tuple(sorted({error for _, error in outcomes if error is not None}))
    cpu = episodes = episode_cpu = None
    if cpu_before is not None and cpu_after is not None and waits:
        cpu = (cpu_after - cpu_before) / len(waits)
    if episodes_before is not None and episodes_after is not None and waits:
        episodes = (episodes_after[0] - episodes_before[0]) / len(waits)
        episode_cpu = (episodes_after[1] - episodes_before[1]) / len(waits)
    return BatchResult(
        label=label,
        runs=count,
        ok=len(waits),
        wall_s=wall,
        p50_s=statistics.median(waits) if waits else None,
        p95_s=percentile(waits, 95) if waits else None,
        cpu_s_per_run=cpu,
        errors=errors,
        episodes_per_run=episodes,
        episode_cpu_s_per_run=episode_cpu,
    )


def pooled(rounds: Sequence[BatchResult]) -> BatchResult:
    """Rounds of one app's batch as one row: runs and wall time added up (so runs/s is
    over all of them), the median of the rounds' p50, p95 and CPU per run, and the
    CPU's range. The machine's own drift between batches is a fifth or more, so one
    batch says little; rounds taken in turn with the other apps say more."""
    first = rounds[0]
    cpus = [r.cpu_s_per_run for r in rounds if r.cpu_s_per_run is not None]
    return BatchResult(
        label=first.label,
        runs=sum(r.runs for r in rounds),
        ok=sum(r.ok for r in rounds),
        wall_s=sum(r.wall_s for r in rounds),
        p50_s=_median(r.p50_s for r in rounds),
        p95_s=_median(r.p95_s for r in rounds),
        cpu_s_per_run=_median(cpus),
        errors=tuple(sorted({e for r in rounds for e in r.errors})),
        rounds=len(rounds),
        cpu_s_range=(min(cpus), max(cpus)) if cpus else None,
        episodes_per_run=_median(r.episodes_per_run for r in rounds),
        episode_cpu_s_per_run=_median(r.episode_cpu_s_per_run for r in rounds),
    )


def _median(values: Iterable[float | None]) -> float | None:
    """The median of the values that were measured (None when none was)."""
    known = [value for value in values if value is not None]
    return statistics.median(known) if known else None


def by_app(batches: Sequence[BatchResult]) -> list[BatchResult]:
    """The batches of each app (label) pooled into one row, in the order first seen."""
    rounds: dict[str, list[BatchResult]] = {}
    for batch in batches:
        rounds.setdefault(batch.label, []).append(batch)
    return [pooled(of_app) for of_app in rounds.values()]


def format_batches(
    count: int,
    latency_ms: str,
    batches: list[BatchResult],
    reference: Mapping[str, str] | None = None,
) -> str:
    """One table for the batches of one size (pooled by `by_app` when there were
    rounds). `reference` maps an app's label to the label of the app its CPU per run
    is divided by, for the `cpu x` and `orch x` columns (measured in the same
    invocation)."""
    rounds = max(b.rounds for b in batches) if batches else 1
    cpus = {b.label: b.cpu_s_per_run for b in batches}
    orch = {b.label: b.episode_cpu_s_per_run for b in batches}
    width = max([30, *(len(b.label) for b in batches)])
    title = f"concurrent: {count} seed runs at once; model latency {latency_ms} ms/turn"
    if rounds > 1:
        title += f"; {rounds} rounds, each app in turn (ok and runs/s over all; medians)"
    header = f"{'app':<{width}} {'ok':>9} {'runs/s':>7} {'p50 s':>7} {'p95 s':>7} {'episodes':>8}"
    header += f" {'orch s/run':>10}"
    if reference:
        header += f" {'orch x':>6}"
    header += f" {'cpu s/run':>10}"
    if rounds > 1:
        header += f" {'cpu range':>12}"
    if reference:
        header += f" {'cpu x':>6}"
    lines = [title, header]
    for b in batches:
        p50 = "-" if b.p50_s is None else f"{b.p50_s:.2f}"
        p95 = "-" if b.p95_s is None else f"{b.p95_s:.2f}"
        cpu = "-" if b.cpu_s_per_run is None else f"{b.cpu_s_per_run:.3f}"
        episodes = "-" if b.episodes_per_run is None else f"{b.episodes_per_run:.1f}"
        orch_cpu = "-" if b.episode_cpu_s_per_run is None else f"{b.episode_cpu_s_per_run:.3f}"
        line = (
            f"{b.label:<{width}} {b.ok:>5}/{b.runs:<3} {b.runs_per_s:>7.2f} {p50:>7} {p95:>7}"
            f" {episodes:>8} {orch_cpu:>10}"
        )
        if reference:
            line += f" {_ratio(b.episode_cpu_s_per_run, orch.get(reference.get(b.label, ''))):>6}"
        line += f" {cpu:>10}"
        if rounds > 1:
            spread = "-" if b.cpu_s_range is None else "{:.3f}-{:.3f}".format(*b.cpu_s_range)
            line += f" {spread:>12}"
        if reference:
            line += f" {_ratio(b.cpu_s_per_run, cpus.get(reference.get(b.label, ''))):>6}"
        lines.append(line)
        lines.extend(f"  error: {error}" for error in b.errors)
    return "\n".join(lines)


def _ratio(value: float | None, reference: float | None) -> str:
    if value is None or not reference:
        return "-"
    return f"{value / reference:.2f}"
