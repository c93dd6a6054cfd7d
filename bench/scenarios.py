"""The questions the bench asks, with what each approach needs to answer them.

Each scenario names an emulator script (by its question), the model latency per
turn, the tools offered, the notebook's hand-written tool schemas, and a check
that the answer is the right one (a fast wrong answer must not count).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from dateutil.relativedelta import relativedelta

from bench.baseline import ToolFunction
from bench.slow_tools import bench_wait
from durable_assistant.tools.builtin import SEED_QUESTION, get_flights, my_cat_born_date

SCRIPTS = Path(__file__).parent / "scripts"
FANOUT_QUESTION = "Please look up four things at once."
FANOUT_CALLS = 4
FANOUT_TOOL_SECONDS = 0.5
FANOUT16_QUESTION = "Please look up sixteen things at once."
FANOUT16_CALLS = 16
FANOUT16_TOOL_SECONDS = 0.2


@dataclass(frozen=True)
class Scenario:
    """One question, played by an emulator script, asked the same way by every approach."""

    name: str
    summary: str
    question: str
    tools: Mapping[str, ToolFunction]
    tool_specs: list[dict[str, Any]]
    check: Callable[[str], bool]
    tool_seconds: float = 0.0  # tool time on the critical path (a step's calls run at once)

    @property
    def tool_names(self) -> list[str]:
        return list(self.tools)


def _function(name: str, description: str, properties: dict[str, Any]) -> dict[str, Any]:
    """A tool schema as notebooks write it by hand."""
    return {
        "type": "function",
        "function": {
            "name": name,
            "description": description,
            "parameters": {
                "type": "object",
                "properties": properties,
                "required": list(properties),
            },
        },
    }


SEED_SPECS = [
    _function(
        "get_flights",
        "Get the number of flights between two dates.",
        {"date_1": {"type": "string"}, "date_2": {"type": "string"}},
    ),
    _function(
        "my_cat_born_date", "Get the birth date of my cat.", {"cat_name": {"type": "string"}}
    ),
]

WAIT_SPECS = [
    _function(
        "bench_wait",
        "Wait a while (like a slow lookup), then return the label.",
        {"seconds": {"type": "number"}, "label": {"type": "string"}},
    )
]


def seed_flights(today: date | None = None) -> int:
    """The seed answer's number: days from the cat's birth (ten years ago) to Easter 2021."""
    born = (today or date.today()) - relativedelta(years=10)
    return abs((date(2021, 4, 4) - born).days)


def _seed_answer_ok(answer: str) -> bool:
    return str(seed_flights()) in answer


def _fanout_answer_ok(answer: str) -> bool:
    return answer.startswith("Looked up a, b, c and d")


def _fanout16_answer_ok(answer: str) -> bool:
    return answer == "Looked up " + ", ".join(f"t{i}" for i in range(FANOUT16_CALLS)) + "."


SEED = Scenario(
    name="seed",
    summary="seed question: 2 steps of 1 tool call, then the answer (3 model turns)",
    question=SEED_QUESTION,
    tools={"get_flights": get_flights, "my_cat_born_date": my_cat_born_date},
    tool_specs=SEED_SPECS,
    check=_seed_answer_ok,
)

FANOUT = Scenario(
    name="fanout",
    summary=(
        f"1 step of {FANOUT_CALLS} tool calls of {FANOUT_TOOL_SECONDS:g} s each,"
        " then the answer (2 model turns)"
    ),
    question=FANOUT_QUESTION,
    tools={"bench_wait": bench_wait},
    tool_specs=WAIT_SPECS,
    check=_fanout_answer_ok,
    tool_seconds=FANOUT_TOOL_SECONDS,
)

FANOUT16 = Scenario(
    name="fanout16",
    summary=(
        f"1 step of {FANOUT16_CALLS} tool calls of {FANOUT16_TOOL_SECONDS:g} s each,"
        " then the answer (2 model turns)"
    ),
    question=FANOUT16_QUESTION,
    tools={"bench_wait": bench_wait},
    tool_specs=WAIT_SPECS,
    check=_fanout16_answer_ok,
    tool_seconds=FANOUT16_TOOL_SECONDS,
)

SCENARIOS = {s.name: s for s in (SEED, FANOUT, FANOUT16)}
SCRIPT_FILES = [SCRIPTS / "fanout.json", SCRIPTS / "fanout16.json"]
