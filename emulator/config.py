"""Run-time controls: latency, injected faults, forced run outcomes, poll hints.

The controls are one mutable object shared by the server; the CLI sets the
initial values and `PUT /_emulator/config` changes them while it runs, so a
test or a benchmark can shape the service without restarting it.
"""

from __future__ import annotations

import math
import random
import re
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from emulator.content_filter import FilterRule, FilterRuleError

FAULT_KINDS = ("401", "429", "500", "503", "drop", "drop_midway", "lost")
OUTCOMES = ("failed", "rate_limited", "expired", "incomplete")

_FIXED = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*$")
_UNIFORM = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*-\s*(\d+(?:\.\d+)?)\s*$")
_EXPONENTIAL = re.compile(r"^\s*exp:(\d+(?:\.\d+)?)\s*$")


class ConfigError(ValueError):
    """A control value the emulator cannot use; reported as a 400 by the admin API."""


@dataclass(frozen=True)
class Latency:
    """A delay in milliseconds: fixed (`"50"`), uniform (`"20-80"`) or exponential (`"exp:50"`).

    Kept as its text form too, so the admin API shows what was asked for.
    """

    spec: str = "0"
    low: float = 0.0
    high: float = 0.0
    mean: float | None = None

    @classmethod
    def parse(cls, value: object) -> Latency:
        """Read a latency from a number or one of the text forms above."""
        if isinstance(value, bool):
            raise ConfigError(f"latency must be milliseconds, not {value!r}")
        if isinstance(value, int | float):
            if value < 0 or not math.isfinite(value):
                raise ConfigError(f"latency must be >= 0 ms, got {value!r}")
            return cls(spec=f"{value:g}", low=float(value), high=float(value))
        if not isinstance(value, str):
            raise ConfigError(f"latency must be milliseconds, got {value!r}")
        if match := _FIXED.match(value):
            ms = float(match.group(1))
            return cls(spec=value.strip(), low=ms, high=ms)
        if match := _UNIFORM.match(value):
            low, high = sorted((float(match.group(1)), float(match.group(2))))
            return cls(spec=value.strip(), low=low, high=high)
        if match := _EXPONENTIAL.match(value):
            return cls(spec=value.strip(), mean=float(match.group(1)))
        raise ConfigError(f"latency {value!r}: use N, A-B (uniform) or exp:MEAN (milliseconds)")

    def sample_seconds(self, rng: random.Random) -> float:
        """One delay, in seconds, drawn with the emulator's seeded generator."""
        if self.mean is not None:
            return rng.expovariate(1.0 / self.mean) / 1000.0 if self.mean > 0 else 0.0
        if self.high == self.low:
            return self.low / 1000.0
        return rng.uniform(self.low, self.high) / 1000.0


@dataclass
class FaultRule:
    """Answer the next `count` requests matching `route` with `fault`, then stop; or,
    with `seconds`, every matching request for that long after the rule was set (an
    outage), whatever `count` says.

    `route` is a counted route key such as `"POST /threads/{thread_id}/runs"`,
    a method-less template (`"/threads/{thread_id}/runs"`), or `None` for any
    request. Deterministic where rates are not.
    """

    fault: str
    count: int = 1
    route: str | None = None
    seconds: float | None = None

    def __post_init__(self) -> None:
        # Not a field: the admin API shows the rule as it was set.
        self.ends_at = None if self.seconds is None else time.monotonic() + self.seconds

    def matches(self, method: str, template: str) -> bool:
        """True when this rule applies to a request of this method and route."""
        if self.route is None:
            return True
        return self.route in (f"{method} {template}", template)

    def over(self) -> bool:
        """True once an outage rule's time has passed."""
        return self.ends_at is not None and time.monotonic() >= self.ends_at


@dataclass
class OutcomeRule:
    """Make the next `count` runs or background responses end with `outcome`."""

    outcome: str
    count: int = 1


@dataclass
class Controls:
    """Everything a test or benchmark can turn at run time (see docs/emulator.md)."""

    latency_ms: Latency = field(default_factory=Latency)
    request_latency_ms: Latency = field(default_factory=Latency)
    rate_429: float = 0.0
    rate_500: float = 0.0
    rate_503: float = 0.0
    rate_drop: float = 0.0
    rate_lost: float = 0.0
    retry_after: float | None = 1.0
    retry_after_ms: int | None = 1000
    run_fail_rate: float = 0.0
    run_expire_rate: float = 0.0
    poll_after_ms: int | None = 1000
    run_expiry_seconds: float = 600.0
    token_lifetime_seconds: float = 86_400.0
    seed: int = 0
    faults: list[FaultRule] = field(default_factory=list)
    outcomes: list[OutcomeRule] = field(default_factory=list)
    content_filter: list[FilterRule] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """The controls as the admin API shows them."""
        data = asdict(self)
        data["latency_ms"] = self.latency_ms.spec
        data["request_latency_ms"] = self.request_latency_ms.spec
        data["faults"] = [asdict(rule) for rule in self.faults if not rule.over()]
        return data

    def update(self, changes: dict[str, Any]) -> bool:
        """Apply a partial update, all or nothing; True when the seed changed."""
        staged = Controls(**{f.name: getattr(self, f.name) for f in fields(self)})
        known = {f.name for f in fields(self)}
        for name, value in changes.items():
            if name not in known:
                raise ConfigError(f"unknown control {name!r}; known: {sorted(known)}")
            setattr(staged, name, _coerce(name, value))
        reseeded = "seed" in changes
        for f in fields(self):
            setattr(self, f.name, getattr(staged, f.name))
        return reseeded


def _coerce(name: str, value: Any) -> Any:
    """Check and convert one control value."""
    if name in ("retry_after", "retry_after_ms", "poll_after_ms") and value is None:
        return None
    return _COERCERS[name](name, value)


def _latency(_: str, value: Any) -> Latency:
    return value if isinstance(value, Latency) else Latency.parse(value)


def _whole(name: str, value: Any) -> int:
    return int(_number(name, value))


def _number(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ConfigError(f"{name} must be a number, got {value!r}")
    try:
        number = float(value)
    except ValueError as error:
        raise ConfigError(f"{name} must be a number, got {value!r}") from error
    if number < 0 or not math.isfinite(number):
        raise ConfigError(f"{name} must be a finite number >= 0, got {value!r}")
    return number


def _rate(name: str, value: Any) -> float:
    rate = _number(name, value)
    if rate > 1:
        raise ConfigError(f"{name} is a probability between 0 and 1, got {value!r}")
    return rate


def _list(name: str, value: Any) -> list[Any]:
    if not isinstance(value, list):
        raise ConfigError(f"{name} must be a list, got {value!r}")
    return value


def _fault_rule(item: Any) -> FaultRule:
    if isinstance(item, FaultRule):
        return item
    if not isinstance(item, dict) or str(item.get("fault")) not in FAULT_KINDS:
        raise ConfigError(f"fault rule {item!r}: needs 'fault' in {FAULT_KINDS}")
    route = item.get("route")
    if route is not None and not isinstance(route, str):
        raise ConfigError(f"fault rule {item!r}: 'route' must be a string")
    count = int(_number("count", item.get("count", 1)))
    seconds = item.get("seconds")
    if seconds is not None:
        seconds = _number("seconds", seconds)
    return FaultRule(fault=str(item["fault"]), count=count, route=route, seconds=seconds)


def _filter_rule(item: Any) -> FilterRule:
    try:
        return FilterRule.parse(item)
    except FilterRuleError as error:
        raise ConfigError(str(error)) from error


def _outcome_rule(item: Any) -> OutcomeRule:
    if isinstance(item, OutcomeRule):
        return item
    if not isinstance(item, dict) or item.get("outcome") not in OUTCOMES:
        raise ConfigError(f"outcome rule {item!r}: needs 'outcome' in {OUTCOMES}")
    return OutcomeRule(outcome=item["outcome"], count=int(_number("count", item.get("count", 1))))


_COERCERS: dict[str, Callable[[str, Any], Any]] = {
    "latency_ms": _latency,
    "request_latency_ms": _latency,
    "rate_429": _rate,
    "rate_500": _rate,
    "rate_503": _rate,
    "rate_drop": _rate,
    "rate_lost": _rate,
    "run_fail_rate": _rate,
    "run_expire_rate": _rate,
    "retry_after": _number,
    "retry_after_ms": _whole,
    "poll_after_ms": _whole,
    "run_expiry_seconds": _number,
    "token_lifetime_seconds": _number,
    "seed": _whole,
    "faults": lambda name, value: [_fault_rule(item) for item in _list(name, value)],
    "outcomes": lambda name, value: [_outcome_rule(item) for item in _list(name, value)],
    "content_filter": lambda name, value: [_filter_rule(item) for item in _list(name, value)],
}
