"""Numbers out of the measured runs: medians, p90s, ratios to the ideal, a table.

Pure functions over plain data, so the arithmetic is tested apart from the stack.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from durable_assistant.settings import Settings

LEDGER_TABLE: str = Settings.model_fields["ledger_table_name"].default
"""The ledger's table (the rest of the Table requests are the run's event log)."""


@dataclass(frozen=True)
class RunSample:
    """One measured run: wall time, requests it caused, what it cost, what it left."""

    seconds: float
    requests: int
    left_behind: int
    ok: bool
    error: str | None = None
    requests_by_route: dict[str, int] = field(default_factory=dict)
    run_seconds: float | None = None  # the app's own start-to-finish time, when it says
    table_requests: int | None = None  # Table storage requests (ledger and event log)
    table_requests_by_table: dict[str, int] = field(default_factory=dict)
    model_seconds: float | None = None  # the model time its turns drew (for the ideal)
    activity_seconds: float | None = None  # the app's activities, scheduled to completed
    wakes: int | None = None  # history events that woke the orchestrator
    tool_step_seconds: float | None = None  # the longest step of tool calls, end to end


@dataclass(frozen=True)
class Summary:
    """What the table shows for one approach in one scenario (medians over right answers)."""

    runs: int
    ok: int
    median_s: float | None
    p90_s: float | None
    requests: float | None
    left_behind: int
    run_median_s: float | None = None
    table_requests: float | None = None
    ledger_requests: float | None = None
    activity_s: float | None = None
    wakes: float | None = None
    tool_step_s: float | None = None


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
    """The approaches side by side for one scenario; the first one is the reference.

    `tool_seconds` is the scenario's tool time on the critical path (its steps run
    their calls at once): the ideal run takes the model's turns plus that.
    """

    scenario: str
    summary: str
    latency_ms: str
    approaches: list[ApproachResult]
    tool_seconds: float = 0.0

    @property
    def baseline(self) -> ApproachResult:
        return self.approaches[0]

    @property
    def reference(self) -> ApproachResult:
        """Whose model requests the others are compared with: the SDK helpers, if run."""
        for approach in self.approaches:
            if approach.approach == "sdk-helpers":
                return approach
        return self.baseline

    @property
    def ideal_s(self) -> float | None:
        """The median ideal run: the model time its turns drew, plus the tool time."""
        ideals = [
            s.model_seconds + self.tool_seconds
            for a in self.approaches
            for s in a.samples
            if s.ok and s.model_seconds is not None
        ]
        return statistics.median(ideals) if ideals else None


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100), linear between closest ranks (numpy's default)."""
    if not values:
        raise ValueError("no values")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100.0
    low = math.floor(rank)
    high = math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def _median(values: Sequence[float | int | None]) -> float | None:
    known = [v for v in values if v is not None]
    return statistics.median(known) if known else None


def summarize(samples: Sequence[RunSample]) -> Summary:
    """Median and p90 wall time over the runs that answered right; requests per run."""
    good = [s for s in samples if s.ok]
    times = [s.seconds for s in good]
    return Summary(
        runs=len(samples),
        ok=len(good),
        median_s=statistics.median(times) if times else None,
        p90_s=percentile(times, 90) if times else None,
        requests=_median([s.requests for s in good]),
        left_behind=sum(s.left_behind for s in samples),
        run_median_s=_median([s.run_seconds for s in good]),
        table_requests=_median([s.table_requests for s in good]),
        ledger_requests=_median(
            [
                s.table_requests_by_table.get(LEDGER_TABLE, 0)
                for s in good
                if s.table_requests is not None
            ]
        ),
        activity_s=_median([s.activity_seconds for s in good]),
        wakes=_median([s.wakes for s in good]),
        tool_step_s=_median([s.tool_step_seconds for s in good]),
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
    f"{'approach':<30} {'ok':>5} {'median s':>9} {'p90 s':>7} {'x ideal':>8}"
    f" {'model req':>10} {'x sdk':>6} {'table req':>10} {'ledger':>7} {'act s':>7} {'wakes':>6}"
    f" {'tools s':>8} {'left':>5}"
)


def format_scenario(result: ScenarioResult) -> str:
    """One scenario's table: a row per approach, the ideal last.

    x ideal: median wall time over the ideal's; x sdk: model requests over the SDK
    helpers' (or the first approach's when the helpers were not run).
    """
    ideal = result.ideal_s
    reference = result.reference.summary()
    lines = [
        f"scenario {result.scenario}: {result.summary}; model latency {result.latency_ms} ms/turn",
        HEADER,
    ]
    for approach in result.approaches:
        s = approach.summary()
        lines.append(
            f"{approach.label:<30} {s.ok:>2}/{s.runs:<2} {_num(s.median_s):>9}"
            f" {_num(s.p90_s):>7} {_times(ratio(s.median_s, ideal)):>8}"
            f" {_num(s.requests, 1):>10} {_times(ratio(s.requests, reference.requests)):>6}"
            f" {_num(s.table_requests, 1):>10} {_num(s.ledger_requests, 1):>7}"
            f" {_num(s.activity_s):>7}"
            f" {_num(s.wakes, 0):>6} {_num(s.tool_step_s):>8} {s.left_behind:>5}"
        )
        errors = sorted({x.error for x in approach.samples if x.error})
        lines.extend(f"  error: {error}" for error in errors)
    lines.append(f"{'ideal (model time + tools)':<30} {'':>5} {_num(ideal):>9}")
    return "\n".join(lines)


def to_json(results: Sequence[ScenarioResult], settings: dict[str, Any]) -> dict[str, Any]:
    """Everything measured, for `--json`: the settings, each sample, each summary, ratios."""
    scenarios = []
    for result in results:
        ideal = result.ideal_s
        reference = result.reference.summary()
        approaches = []
        for approach in result.approaches:
            s = approach.summary()
            approaches.append(
                {
                    "approach": approach.approach,
                    "label": approach.label,
                    "summary": asdict(s),
                    "ratio_to_ideal": ratio(s.median_s, ideal),
                    "requests_ratio_to_sdk_helpers": ratio(s.requests, reference.requests),
                    "samples": [asdict(x) for x in approach.samples],
                }
            )
        scenarios.append(
            {
                "scenario": result.scenario,
                "summary": result.summary,
                "latency_ms": result.latency_ms,
                "ideal_s": ideal,
                "approaches": approaches,
            }
        )
    return {"settings": settings, "scenarios": scenarios}
