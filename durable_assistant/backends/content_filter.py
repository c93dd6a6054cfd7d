"""Azure OpenAI's content filter, as the backends see it: which answers mean "filtered",
and a reason that names what was filtered (the question, a tool output, the answer).

The service says it in three ways: a 400 whose `error.code` is `content_filter`
(a filtered prompt or tool output, on Responses), and a run or response that ends
`incomplete` with reason `content_filter`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from openai import BadRequestError

from durable_assistant.model import RunState, RunStatus, Usage, short

FILTERED = "content_filter"
QUESTION = "the question or the instructions"
TOOL_OUTPUT = "a tool output"
ANSWER = "the model's answer"


def is_filtered_request(error: BadRequestError) -> bool:
    """True when a 400 is the content filter refusing the request's input."""
    return error.code == FILTERED


def filtered_categories(error: BadRequestError) -> list[str]:
    """The filter categories the 400 names as filtered (hate, violence, ...)."""
    body: Any = error.body
    inner = body.get("innererror") if isinstance(body, Mapping) else None
    found = inner.get("content_filter_result") if isinstance(inner, Mapping) else None
    if not isinstance(found, Mapping):
        return []
    return sorted(
        name
        for name, result in found.items()
        if isinstance(result, Mapping) and result.get("filtered") is True
    )


def filtered_state(
    what: str, categories: list[str] | None = None, usage: Usage | None = None
) -> RunState:
    """The terminal state of a run the content filter stopped, naming what it filtered."""
    kinds = f" ({', '.join(categories)})" if categories else ""
    reason = f"Azure OpenAI's content filter stopped the run: {what} was filtered{kinds}"
    return RunState(status=RunStatus.CONTENT_FILTERED, reason=short(reason), usage=usage)
