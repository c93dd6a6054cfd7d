"""The emulator tests' helpers: the seed's tools with fixed answers, their schemas,
and a strict check against the SDK's own types."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date
from typing import Any

from openai import AzureOpenAI
from openai.types.beta import Assistant, Thread
from openai.types.beta.threads import Run
from openai.types.responses import Response
from pydantic import BaseModel

from durable_assistant.tools.builtin import SEED_QUESTION

EMULATOR_KEY = "emulator-test-key"
"""The key of the tests' in-process emulator (`emulator_session`); nothing else accepts it."""


API_VERSION = "2024-05-01-preview"


QUESTION = SEED_QUESTION


TWO_CATS = "When were my cats Mike and Tom born?"


CAT_BORN = "2015-04-24"


FLIGHTS = 2172  # days from 2015-04-24 to 2021-04-04


POLL_MS = 5


FUNCTIONS: list[dict[str, Any]] = [
    {
        "name": "my_cat_born_date",
        "description": "The birth date of a cat.",
        "parameters": {
            "type": "object",
            "properties": {"cat_name": {"type": "string"}},
            "required": ["cat_name"],
        },
    },
    {
        "name": "get_flights",
        "description": "The number of flights between two dates.",
        "parameters": {
            "type": "object",
            "properties": {"date_1": {"type": "string"}, "date_2": {"type": "string"}},
            "required": ["date_1", "date_2"],
        },
    },
]


ASSISTANT_TOOLS: list[Any] = [{"type": "function", "function": f} for f in FUNCTIONS]


RESPONSE_TOOLS: list[Any] = [{"type": "function", **f} for f in FUNCTIONS]


def my_cat_born_date(cat_name: str) -> dict[str, str]:
    """The seed's tool, with a fixed date so the answer is known."""
    return {"cat_born_date": CAT_BORN if cat_name == "Mike" else "2019-01-01"}


def get_flights(date_1: str, date_2: str) -> dict[str, int]:
    """The seed's other tool: the days between the two dates."""
    return {"flights": abs((date.fromisoformat(date_2) - date.fromisoformat(date_1)).days)}


def run_tool(name: str, arguments: str) -> str:
    """Run one requested call and give its output as the model expects it (JSON text)."""
    tools: dict[str, Callable[..., dict[str, Any]]] = {
        "my_cat_born_date": my_cat_born_date,
        "get_flights": get_flights,
    }
    return json.dumps(tools[name](**json.loads(arguments)))


def outputs_for(response: Response) -> list[Any]:
    """function_call_output items answering every call of a response."""
    return [
        {
            "type": "function_call_output",
            "call_id": item.call_id,
            "output": run_tool(item.name, item.arguments),
        }
        for item in response.output
        if item.type == "function_call"
    ]


def strict(model: type[BaseModel], body: Any) -> None:
    """Fail unless `body` validates strictly against the SDK's own type."""
    model.model_validate(body, strict=True)


# -- an Assistants run through the SDK, step by step --


def start(
    azure: AzureOpenAI,
    question: str = QUESTION,
    *,
    tools: list[Any] | None = None,
    headers: dict[str, str] | None = None,
    **run_options: Any,
) -> tuple[Assistant, Thread, Run]:
    """An assistant, a thread with the question, and a run on it."""
    assistant = azure.beta.assistants.create(
        model="gpt-4o", tools=ASSISTANT_TOOLS if tools is None else tools
    )
    thread = azure.beta.threads.create(messages=[{"role": "user", "content": question}])
    run = azure.beta.threads.runs.create(
        thread_id=thread.id, assistant_id=assistant.id, extra_headers=headers, **run_options
    )
    return assistant, thread, run


def retrieve(azure: AzureOpenAI, run: Run) -> Run:
    return azure.beta.threads.runs.retrieve(run.id, thread_id=run.thread_id)


def answer(azure: AzureOpenAI, run: Run) -> Run:
    """Submit the outputs of every pending call of a requires_action run."""
    assert run.required_action is not None
    outputs: list[Any] = [
        {"tool_call_id": c.id, "output": run_tool(c.function.name, c.function.arguments)}
        for c in run.required_action.submit_tool_outputs.tool_calls
    ]
    return azure.beta.threads.runs.submit_tool_outputs(
        run.id, thread_id=run.thread_id, tool_outputs=outputs
    )
