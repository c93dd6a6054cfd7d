"""Everything the emulator remembers, in memory: objects, controls, counters.

All of it is touched only from the server's event loop, so there are no locks.
Wire objects are kept as the JSON dicts that are served; what the service
keeps hidden (the script being played, deadlines) sits beside them in records.
"""

from __future__ import annotations

import asyncio
import copy
import random
import secrets
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from emulator.config import Controls, FaultRule, OutcomeRule
from emulator.content_filter import FilterRule
from emulator.headers import RateWindow
from emulator.model import Decision, Episode
from emulator.script import ScriptBook

if TYPE_CHECKING:
    from emulator.proxy import ProxyModel

Json = dict[str, Any]
R = TypeVar("R", FaultRule, OutcomeRule)


def new_id(prefix: str) -> str:
    """A fresh object id shaped like the service's (`asst_...`, `thread_...`)."""
    return f"{prefix}_{secrets.token_hex(12)}"


@dataclass
class RunRecord:
    """A run as served (`wire`) and the hidden state that drives its life cycle."""

    wire: Json
    episode: Episode
    offered: set[str]
    parallel: bool
    ready_at: float
    deadline: float
    outcome: str | None = None
    cancel_at: float | None = None
    steps: list[Json] = field(default_factory=list)
    model_task: asyncio.Task[Decision] | None = None
    planned: Decision | None = None  # a streamed turn, decided when it began


@dataclass
class ThreadRecord:
    """A thread, its messages and its runs, in creation order."""

    wire: Json
    messages: dict[str, Json] = field(default_factory=dict)
    runs: dict[str, RunRecord] = field(default_factory=dict)


@dataclass
class ResponseRecord:
    """A response as served, the items it was given, and its background schedule."""

    wire: Json
    input_items: list[Json]
    history: list[Json]
    episode: Episode | None = None
    ready_at: float = 0.0
    outcome: str | None = None
    model_task: asyncio.Task[Decision] | None = None
    planned: list[Json] | None = None  # a streamed turn's output, decided when it began
    timeline: Any = None  # its stream's events (emulator.stream_responses.Timeline)


@dataclass
class ConversationRecord:
    """A conversation (Responses API) and its items."""

    wire: Json
    items: list[Json] = field(default_factory=list)


class EmulatorState:
    """The emulator's whole memory, shared by every handler."""

    def __init__(
        self,
        controls: Controls | None = None,
        book: ScriptBook | None = None,
        *,
        api_key: str | None = None,
        token: str | None = None,
        identity_header: str | None = None,
        proxy: ProxyModel | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.controls = controls or Controls()
        self._initial_controls = copy.deepcopy(self.controls)
        self.book = book or ScriptBook.load()
        self.api_key = api_key
        self.token = token
        self.identity_header = identity_header
        self.proxy = proxy
        self.clock = clock
        self.rng = random.Random(self.controls.seed)  # noqa: S311 - reproducible faults, not secrets
        self.requests: Counter[str] = Counter()
        self.rate_window = RateWindow()
        self.model_seconds = 0.0  # model time drawn for every turn played (the ideal's sum)
        self.assistants: dict[str, Json] = {}
        self.threads: dict[str, ThreadRecord] = {}
        self.responses: dict[str, ResponseRecord] = {}
        self.conversations: dict[str, ConversationRecord] = {}

    def reset(self, controls: Controls | None = None) -> None:
        """Forget every object, counter and control change: back to how it started, or
        to `controls`, which become the ones a later reset returns to."""
        if controls is not None:
            self._initial_controls = copy.deepcopy(controls)
        self.controls = copy.deepcopy(self._initial_controls)
        self.rng.seed(self.controls.seed)
        self.requests.clear()
        self.rate_window.clear()
        self.model_seconds = 0.0
        self.assistants.clear()
        self.threads.clear()
        self.responses.clear()
        self.conversations.clear()

    def reseed(self) -> None:
        """Restart the random sequence, after the seed control changed."""
        self.rng.seed(self.controls.seed)

    def counts(self) -> Json:
        """Live objects (deleted ones excluded) and requests served, by route."""
        threads = self.threads.values()
        return {
            "live": {
                "assistants": len(self.assistants),
                "threads": len(self.threads),
                "messages": sum(len(t.messages) for t in threads),
                "runs": sum(len(t.runs) for t in threads),
                "responses": len(self.responses),
                "conversations": len(self.conversations),
            },
            "requests": dict(sorted(self.requests.items())),
            "model_seconds": round(self.model_seconds, 6),
        }

    def pick_fault(self, method: str, template: str, asked: str | None) -> str | None:
        """The fault for this request: asked by header, scheduled by a rule, or drawn by rate."""
        if asked:
            return asked
        rule = _take_fault(self.controls.faults, method, template)
        if rule is not None:
            return rule.fault
        for fault, rate in (
            ("429", self.controls.rate_429),
            ("500", self.controls.rate_500),
            ("503", self.controls.rate_503),
            ("drop", self.controls.rate_drop),
            ("lost", self.controls.rate_lost),
        ):
            if rate > 0 and self.rng.random() < rate:
                return fault
        return None

    def pick_outcome(self, asked: str | None) -> str | None:
        """A forced ending for a new run or response: by header, by rule, or drawn by rate."""
        if asked:
            return asked
        rule = _take(self.controls.outcomes, lambda _: True)
        if rule is not None:
            return rule.outcome
        if self.controls.run_fail_rate > 0 and self.rng.random() < self.controls.run_fail_rate:
            return "failed"
        if self.controls.run_expire_rate > 0 and self.rng.random() < self.controls.run_expire_rate:
            return "expired"
        return None

    def filter_rules(self) -> list[FilterRule]:
        """The content-filter rules in force: the control's, then the scripts'."""
        return [*self.controls.content_filter, *self.book.filters]

    def model_delay(self) -> float:
        """Seconds the model takes for one turn, drawn from the latency control."""
        seconds = self.controls.latency_ms.sample_seconds(self.rng)
        self.model_seconds += seconds
        return seconds


def _take_fault(rules: list[FaultRule], method: str, template: str) -> FaultRule | None:
    """The first fault rule that applies: an outage while it lasts, or one count of a
    counted rule (dropped once used up); outages that are over are dropped."""
    rules[:] = [rule for rule in rules if not rule.over()]
    for rule in rules:
        if not rule.matches(method, template):
            continue
        if rule.seconds is None:
            if rule.count <= 0:
                continue
            rule.count -= 1
            if rule.count <= 0:
                rules.remove(rule)
        return rule
    return None


def _take(rules: list[R], wanted: Callable[[R], bool]) -> R | None:
    """Use up one count of the first rule that applies; drop rules whose count ran out."""
    for rule in rules:
        if rule.count > 0 and wanted(rule):
            rule.count -= 1
            if rule.count <= 0:
                rules.remove(rule)
            return rule
    return None
