"""The HTTP API's logic, free of Azure Functions types.

The HTTP triggers only move bytes: this module decides what a request body means
(and which field is wrong when it is not acceptable), resolves a request into the
`RunPlan` the orchestration runs (so the orchestrator never reads settings), and
shapes what `GET /api/runs/{id}` answers from the durable status.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from pydantic import Field, ValidationError

from durable_assistant.model import (
    Model,
    Outcome,
    Phase,
    Progress,
    RunPlan,
    RunRequest,
    RunResult,
    ToolTrace,
    Usage,
    short,
)
from durable_assistant.purge import FINISHED_STATUSES
from durable_assistant.settings import Settings
from durable_assistant.tools import ToolRegistry

MAX_BODY_BYTES = 256 * 1024
"""Largest accepted request body: a question of the maximum length fits easily."""

MAX_WAIT_SECONDS = 120
"""Longest `?wait=N`: well inside the Functions HTTP timeout (230 s on Azure)."""

WAIT_POLL_MS = 200
"""How often `?wait=N` checks the orchestration."""

M = TypeVar("M", bound=Model)


@dataclass(frozen=True)
class ApiError(Exception):
    """A request the API refuses, with the HTTP status and the fields at fault."""

    status: int
    code: str
    message: str
    fields: list[str] = field(default_factory=list)

    def body(self) -> dict[str, Any]:
        """The JSON error body every refusal uses."""
        return {"error": self.code, "message": self.message, "fields": self.fields}


def bad_request(message: str, *fields: str) -> ApiError:
    return ApiError(400, "bad_request", message, list(fields))


def parse_run_request(body: bytes, registry: ToolRegistry) -> RunRequest:
    """Validate a `POST /api/runs` body; `ApiError` (400) naming the field otherwise."""
    if len(body) > MAX_BODY_BYTES:
        raise bad_request(
            f"body: the request body is {len(body)} bytes; at most {MAX_BODY_BYTES} are accepted",
            "body",
        )
    data = _json_body(body) if body.strip() else None
    if not isinstance(data, dict):
        raise bad_request('body: must be a JSON object such as {"question": "..."}', "body")
    try:
        request = RunRequest.model_validate(data)
    except ValidationError as error:
        raise _validation_error(error) from None
    if request.tools is not None:
        unknown = [name for name in request.tools if name not in registry]
        if unknown:
            raise bad_request(
                f"tools: unknown tools {unknown}; registered tools are {registry.names()}",
                "tools",
            )
    return request


MAX_JSON_DEPTH = 32
"""Deepest nesting a request body may have: far more than any valid body needs."""


def _json_body(body: bytes) -> Any:
    """A request body decoded as JSON; `ApiError` (400) for anything else.

    Nesting is checked before decoding: a body of a few hundred kilobytes of `[`
    would otherwise exhaust the parser's recursion.
    """
    if _nesting_depth(body) > MAX_JSON_DEPTH:
        raise bad_request(f"body: JSON nested deeper than {MAX_JSON_DEPTH} levels", "body")
    try:
        return json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as error:
        raise bad_request(f"body: not valid JSON ({_reason(error)})", "body") from None


def _nesting_depth(body: bytes) -> int:
    """The deepest `[`/`{` nesting outside strings (a cheap scan, no decoding)."""
    depth = deepest = 0
    in_string = escaped = False
    for byte in body:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):  # [ {
            depth += 1
            deepest = max(deepest, depth)
        elif byte in (0x5D, 0x7D):  # ] }
            depth -= 1
    return deepest


def _reason(error: Exception) -> str:
    if isinstance(error, RecursionError):
        return "nested too deeply"
    return str(error)


def _validation_error(error: ValidationError) -> ApiError:
    problems: list[str] = []
    fields: list[str] = []
    for item in error.errors():
        where = ".".join(str(p) for p in item["loc"]) or "body"
        if item["type"] == "extra_forbidden":
            message = "is not a known field"
        elif item["type"] == "missing":
            message = "is required"
        else:
            message = item["msg"]
        problems.append(f"{where}: {message}")
        top = str(item["loc"][0]) if item["loc"] else "body"
        if top not in fields:
            fields.append(top)
    return bad_request("; ".join(problems), *fields)


MAX_CANCEL_REASON_CHARS = 500


def parse_cancel_request(body: bytes) -> str | None:
    """The optional `{"reason": "..."}` body of a cancel; `ApiError` (400) otherwise."""
    if not body.strip():
        return None
    data = _json_body(body)
    if not isinstance(data, dict) or set(data) - {"reason"}:
        raise bad_request('body: must be empty or {"reason": "..."}', "body")
    reason = data.get("reason")
    if reason is None:
        return None
    if not isinstance(reason, str) or len(reason) > MAX_CANCEL_REASON_CHARS:
        raise bad_request(
            f"reason: must be a string of at most {MAX_CANCEL_REASON_CHARS} characters", "reason"
        )
    return reason or None


def parse_wait(value: str | None) -> int:
    """The `?wait=N` query parameter: whole seconds, 0 to `MAX_WAIT_SECONDS`."""
    if value is None or value == "":
        return 0
    # ASCII digits only: int() would also take " 5 ", "+5", "5_0" and full-width digits.
    seconds = int(value) if value.isascii() and value.isdigit() and len(value) <= 4 else -1
    if not 0 <= seconds <= MAX_WAIT_SECONDS:
        raise bad_request(
            f"wait: must be a whole number of seconds from 0 to {MAX_WAIT_SECONDS}", "wait"
        )
    return seconds


def resolve_plan(request: RunRequest, settings: Settings, registry: ToolRegistry) -> RunPlan:
    """The request with every default taken from settings: the orchestration's input."""
    tools = registry.names() if request.tools is None else list(dict.fromkeys(request.tools))
    return RunPlan(
        question=request.question,
        backend=request.backend or settings.assistant_backend,
        instructions=(
            request.instructions
            if request.instructions is not None
            else settings.assistant_instructions
        ),
        tools=tools,
        model=request.model or settings.azure_openai_deployment,
        deadline_seconds=request.deadline_seconds or settings.run_deadline_seconds,
        poll_initial_ms=settings.poll_initial_ms,
        poll_max_ms=settings.poll_max_ms,
        max_steps=settings.max_steps,
        history_event_limit=settings.history_event_limit,
    )


def tools_listing(registry: ToolRegistry) -> dict[str, Any]:
    """`GET /api/tools`: every registered tool with the JSON schema the model sees."""
    return {
        "tools": [
            {"name": d.name, "description": d.description, "parameters": d.parameters}
            for d in registry.definitions()
        ]
    }


class RunView(Model):
    """`GET /api/runs/{id}`: what a caller wants to know about one run.

    `runtime_status` is the durable status, except that the short-lived
    `ContinuedAsNew` shows as `Running` (the run goes on in a new execution).
    While the run goes on, tool calls are only counted (`tool_call_count`); the
    full trace comes with the result.
    """

    id: str
    runtime_status: str
    done: bool
    phase: Phase | None = None
    outcome: Outcome | None = None
    answer: str | None = None
    error: str | None = None
    steps: int = 0
    tool_call_count: int = 0
    tool_calls: list[ToolTrace] = Field(default_factory=list)
    usage: Usage = Field(default_factory=Usage)
    backend: str | None = None
    created_at: str | None = None
    last_updated_at: str | None = None
    started_at: str | None = None
    finished_at: str | None = None
    duration_seconds: float | None = None


def run_view(
    instance_id: str,
    *,
    runtime_status: str | None,
    custom_status: Any,
    output: Any,
    created_at: datetime | None,
    last_updated_at: datetime | None,
) -> RunView:
    """The friendly status of one instance from what the durable client reports."""
    status = "Running" if runtime_status == "ContinuedAsNew" else (runtime_status or "Unknown")
    view: dict[str, Any] = {
        "id": instance_id,
        "runtime_status": status,
        "done": status in FINISHED_STATUSES,
        "created_at": _iso(created_at),
        "last_updated_at": _iso(last_updated_at),
    }
    progress = _parse(Progress, custom_status)
    if progress is not None:
        view |= {
            "phase": progress.phase,
            "steps": progress.step,
            "tool_call_count": progress.tool_calls,
            "usage": progress.usage,
            "backend": progress.backend.value if progress.backend else None,
        }
    result = _parse(RunResult, output) if status == "Completed" else None
    if result is not None:
        view |= {
            "phase": Phase.DONE,
            "outcome": result.outcome,
            "answer": result.answer,
            "error": result.reason if result.outcome is not Outcome.COMPLETED else None,
            "steps": result.steps,
            "tool_call_count": len(result.tool_calls),
            "tool_calls": result.tool_calls,
            "usage": result.usage,
            "backend": result.backend.value,
            "started_at": result.started_at,
            "finished_at": result.finished_at,
            "duration_seconds": _seconds_between(result.started_at, result.finished_at),
        }
    elif status in ("Failed", "Terminated"):
        text = output if isinstance(output, str) else json.dumps(output)
        view["error"] = short(text or f"the run {status.lower()}")
    return RunView.model_validate(view)


def is_run_result(value: Any) -> bool:
    """Whether an orchestration's output is a run's result (a failed run has none)."""
    return _parse(RunResult, value) is not None


def _parse(model: type[M], value: Any) -> M | None:
    if value is None:
        return None
    try:
        return model.from_json(value)
    except (ValidationError, ValueError):
        return None


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _seconds_between(start: str, end: str) -> float | None:
    try:
        return round(
            (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds(), 3
        )
    except ValueError:
        return None
