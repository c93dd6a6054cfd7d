"""Numbers out of the measured runs: medians, p90s, ratios to the baseline, a table.

Pure functions over plain data, so the arithmetic is tested apart from the stack.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class RunSample:
    """One measured run: wall time, model-service requests, objects it left behind."""

    seconds: float
    requests: int
    left_behind: int
    ok: bool
    error: str | None = None
    requests_by_route: dict[str, int] = field(default_factory=dict)
    run_seconds: float | None = None  # the app's own start-to-finish time, when it says


@dataclass(frozen=True)
class Summary:
    """What the table shows for one approach in one scenario."""

    runs: int
    ok: int
    median_s: float | None
    p90_s: float | None
    requests: float | None
    left_behind: int
    run_median_s: float | None = None


@dataclass
class ApproachResult:
    """Every sample of one approach in one scenario."""

    approach: str
    label: str
    samples: list[RunSample] = field(default_factory=list)

    def summary(self) -> Summary:
        return summarize(self.samples)


@dataclass
class ScenarioResult:
    """The approaches side by side for one scenario; the first one is the baseline."""

    scenario: str
    summary: str
    latency_ms: str
    approaches: list[ApproachResult]

    @property
    def baseline(self) -> ApproachResult:
        return self.approaches[0]


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100), linear between closest ranks (numpy's default)."""
    if not values:
        raise ValueError("no values")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100.0
    low = math.floor(rank)
    high = math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def summarize(samples: Sequence[RunSample]) -> Summary:
    """Median and p90 wall time over the runs that answered right; requests per run."""
    good = [s for s in samples if s.ok]
    times = [s.seconds for s in good]
    inner = [s.run_seconds for s in good if s.run_seconds is not None]
    return Summary(
        runs=len(samples),
        ok=len(good),
        median_s=statistics.median(times) if times else None,
        p90_s=percentile(times, 90) if times else None,
        requests=statistics.median([s.requests for s in good]) if good else None,
        left_behind=sum(s.left_behind for s in samples),
        run_median_s=statistics.median(inner) if inner else None,
    )


def ratio(value: float | None, base: float | None) -> float | None:
    """value / base, or None when either is missing or the base is zero."""
    if value is None or base is None or base == 0:
        return None
    return value / base


def _num(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _times(value: float | None) -> str:
    return "-" if value is None else f"x{value:.2f}"


HEADER = (
    f"{'approach':<28} {'ok':>5} {'median s':>9} {'p90 s':>7} {'x base':>7}"
    f" {'p90 x':>7} {'requests':>9} {'x base':>7} {'left':>5} {'in-app s':>9}"
)


def format_scenario(result: ScenarioResult) -> str:
    """A compact table for one scenario: one row per approach, ratios to the baseline."""
    base = result.baseline.summary()
    lines = [
        f"scenario {result.scenario}: {result.summary}; model latency {result.latency_ms} ms/turn",
        HEADER,
    ]
    for approach in result.approaches:
        s = approach.summary()
        lines.append(
            f"{approach.label:<28} {s.ok:>2}/{s.runs:<2} {_num(s.median_s):>9} {_num(s.p90_s):>7}"
            f" {_times(ratio(s.median_s, base.median_s)):>7}"
            f" {_times(ratio(s.p90_s, base.p90_s)):>7}"
            f" {_num(s.requests, 1):>9} {_times(ratio(s.requests, base.requests)):>7}"
            f" {s.left_behind:>5} {_num(s.run_median_s):>9}"
        )
        errors = sorted({x.error for x in approach.samples if x.error})
        lines.extend(f"  error: {error}" for error in errors)
    return "\n".join(lines)


def to_json(results: Sequence[ScenarioResult], settings: dict[str, Any]) -> dict[str, Any]:
    """Everything measured, for `--json`: the settings, each sample, each summary, ratios."""
    scenarios = []
    for result in results:
        base = result.baseline.summary()
        approaches = []
        for approach in result.approaches:
            s = approach.summary()
            approaches.append(
                {
                    "approach": approach.approach,
                    "label": approach.label,
                    "summary": asdict(s),
                    "ratio_to_baseline": {
                        "median_s": ratio(s.median_s, base.median_s),
                        "p90_s": ratio(s.p90_s, base.p90_s),
                        "requests": ratio(s.requests, base.requests),
                    },
                    "samples": [asdict(x) for x in approach.samples],
                }
            )
        scenarios.append(
            {
                "scenario": result.scenario,
                "summary": result.summary,
                "latency_ms": result.latency_ms,
                "approaches": approaches,
            }
        )
    return {"settings": settings, "scenarios": scenarios}
