"""The HTTP API's logic, free of Azure Functions types.

The HTTP triggers only move bytes: this module decides what a request body means
(and which field is wrong when it is not acceptable), resolves a request into the
`RunPlan` the orchestration runs (so the orchestrator never reads settings), and
shapes what `GET /api/runs/{id}` answers from the durable status.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, TypeVar
from urllib.parse import quote, urlsplit, urlunsplit

from pydantic import Field, ValidationError

from durable_assistant.events import EventType, StoredEvent
from durable_assistant.model import (
    Backend,
    Model,
    Outcome,
    Phase,
    Progress,
    Request,
    RunPlan,
    RunRequest,
    RunResult,
    RuntimeStatus,
    ToolTrace,
    Usage,
    dotted,
    short,
    validation_problems,
)
from durable_assistant.settings import Settings
from durable_assistant.tools import ToolRegistry

MAX_BODY_BYTES = 256 * 1024
"""Largest accepted request body: a question of the maximum length fits easily."""

MAX_WAIT_SECONDS = 120
"""Longest `?wait=N`: well inside the Functions HTTP timeout (230 s on Azure)."""

WAIT_POLL_MS = 200
"""How often `?wait=N` checks the orchestration when the run's event log cannot say."""

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
        return ErrorBody(error=self.code, message=self.message, fields=self.fields).to_json()


class ErrorBody(Model):
    """Every refusal: a code, a readable message, and the request fields at fault."""

    error: str = Field(description="bad_request, not_found, conflict or configuration_error")
    message: str
    fields: list[str] = Field(default_factory=list)


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


PLAIN_WORDS = {"extra_forbidden": "is not a known field", "missing": "is required"}


def _validation_error(error: ValidationError) -> ApiError:
    problems = validation_problems(error, PLAIN_WORDS)
    fields = dict.fromkeys(str(where[0]) if where else "body" for where, _ in problems)
    text = "; ".join(f"{dotted(where)}: {message}" for where, message in problems)
    return bad_request(text, *fields)


MAX_CANCEL_REASON_CHARS = 500


class CancelRequest(Request):
    """The optional body of `POST /api/runs/{id}/cancel`."""

    reason: str | None = Field(
        default=None,
        max_length=MAX_CANCEL_REASON_CHARS,
        description="why; it ends up in the result's reason",
    )


def parse_cancel_request(body: bytes) -> str | None:
    """The optional `{"reason": "..."}` body of a cancel; `ApiError` (400) otherwise."""
    if not body.strip():
        return None
    data = _json_body(body)
    if not isinstance(data, dict) or set(data) - set(CancelRequest.model_fields):
        raise bad_request('body: must be empty or {"reason": "..."}', "body")
    try:
        request = CancelRequest.model_validate(data, strict=True)
    except ValidationError:
        raise bad_request(
            f"reason: must be a string of at most {MAX_CANCEL_REASON_CHARS} characters", "reason"
        ) from None
    return request.reason or None


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


class ToolInfo(Model):
    """One tool the model may call."""

    name: str
    description: str
    parameters: dict[str, Any] = Field(description="the JSON schema the model is given")


class ToolsListing(Model):
    """`GET /api/tools`."""

    tools: list[ToolInfo]


def tools_listing(registry: ToolRegistry) -> ToolsListing:
    """`GET /api/tools`: every registered tool with the JSON schema the model sees."""
    return ToolsListing(
        tools=[
            ToolInfo(name=d.name, description=d.description, parameters=d.parameters)
            for d in registry.definitions()
        ]
    )


class CancelAccepted(Model):
    """The 202 of a cancel: the run was asked to stop; follow `Location` to see it end."""

    id: str
    status: Literal["cancel_requested"] = "cancel_requested"


class RunLinks(Model):
    """The app's own URLs for one run: never the durable extension's, which carry
    its system key and skip the app's cancel and teardown."""

    status: str = Field(description="GET: the run's status (the `Location` of a 202)")
    cancel: str = Field(description="POST: ask the run to stop")
    events: str = Field(description="GET: the run's events as they happen")


def runs_url(request_url: str) -> str:
    """The app's `…/runs` URL on the origin and route prefix a request came in on.

    The query is dropped, so a function key given as `?code=` is never echoed.
    """
    parts = urlsplit(request_url)
    segments = parts.path.split("/")
    path = "/".join(segments[: segments.index("runs") + 1]) if "runs" in segments else "/api/runs"
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


def run_links(request_url: str, instance_id: str) -> RunLinks:
    """The links of run `instance_id`, on the origin of the request being answered."""
    status = f"{runs_url(request_url)}/{quote(instance_id, safe='')}"
    return RunLinks(status=status, cancel=f"{status}/cancel", events=f"{status}/events")


class RunView(Model):
    """A run as callers see it: the one body every run route answers.

    `runtime_status` is the durable status, except that the short-lived
    `ContinuedAsNew` shows as `Running` (the run goes on in a new execution).
    While the run goes on, tool calls are only counted (`tool_call_count`); the
    full trace comes with the result. A run that is `done` always has an
    `outcome`, final from then on; a run that failed or was terminated has no
    answer, only an `error`. `done` comes as soon as the run's end is recorded in
    its event log, while the orchestration may still be tearing down
    (`runtime_status` `Running`, `phase` `tearing_down`; see `with_recorded_end`).
    """

    id: str
    runtime_status: RuntimeStatus
    done: bool = Field(
        description="the outcome and answer are final (the orchestration may still be "
        "tearing down: see `runtime_status`)"
    )
    phase: Phase | None = None
    outcome: Outcome | None = None
    answer: str | None = None
    error: str | None = None
    steps: int = 0
    tool_call_count: int = 0
    tool_calls: list[ToolTrace] = Field(default_factory=list)
    usage: Usage = Field(default_factory=Usage)
    backend: Backend | None = None
    version: str | None = Field(
        default=None, description="the orchestration version the run started with"
    )
    created_at: datetime | None = None
    last_updated_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    duration_seconds: float | None = None
    links: RunLinks


_ENDED_WITHOUT_RESULT = {
    RuntimeStatus.FAILED: Outcome.FAILED,
    RuntimeStatus.TERMINATED: Outcome.CANCELLED,
    RuntimeStatus.CANCELED: Outcome.CANCELLED,
}


def run_view(
    instance_id: str,
    *,
    runtime_status: str | None,
    custom_status: Any,
    output: Any,
    created_at: datetime | None,
    last_updated_at: datetime | None,
    links: RunLinks,
) -> RunView:
    """The view of one instance from what the durable client reports."""
    status = _runtime_status(runtime_status)
    view: dict[str, Any] = {
        "id": instance_id,
        "runtime_status": status,
        "done": status.is_finished,
        "created_at": _aware(created_at),
        "last_updated_at": _aware(last_updated_at),
        "links": links,
    }
    progress = _parse(Progress, custom_status)
    if progress is not None:
        view |= {
            "phase": progress.phase,
            "steps": progress.step,
            "tool_call_count": progress.tool_calls,
            "usage": progress.usage,
            "backend": progress.backend,
            "version": progress.version,
        }
    result = _parse(RunResult, output) if status is RuntimeStatus.COMPLETED else None
    if result is None and status is RuntimeStatus.FAILED:
        result = failed_result(output)  # failed unexpectedly: its trace and usage are kept
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
            "backend": result.backend,
            "version": result.version or view.get("version"),
            "started_at": result.started_at,
            "finished_at": result.finished_at,
            "duration_seconds": round((result.finished_at - result.started_at).total_seconds(), 3),
        }
    elif status.is_finished:
        text = output if isinstance(output, str) else json.dumps(output)
        view["outcome"] = _ENDED_WITHOUT_RESULT.get(status, Outcome.FAILED)
        view["error"] = short(text or f"the run ended as {status.value}")
    return RunView.model_validate(view)


class RecordedEnd(Model):
    """The run's end as its event log recorded it: the data of the `end` event,
    written when teardown begins."""

    outcome: Outcome
    answer: str | None = None
    answer_truncated: bool = False
    reason: str | None = None
    steps: int = 0
    tool_calls: int = 0
    usage: Usage = Field(default_factory=Usage)


def recorded_end(events: Sequence[StoredEvent]) -> RecordedEnd | None:
    """The end among `events` when it is there, readable and carries the whole
    answer (an answer cut short in the log waits for the orchestration's result)."""
    for event in events:
        if event.type is EventType.END:
            end = _parse(RecordedEnd, event.data)
            return end if end is not None and not end.answer_truncated else None
    return None


def with_recorded_end(view: RunView, end: RecordedEnd) -> RunView:
    """The view of a run whose end is recorded while its orchestration still runs
    (its teardown): `done`, with the final outcome, answer, error, steps and usage;
    the durable status still says `Running` and the phase `tearing_down`. The tool
    trace and the timings come with the result, when the orchestration completes."""
    if view.done:
        return view
    return view.model_copy(
        update={
            "done": True,
            "phase": Phase.TEARING_DOWN,
            "outcome": end.outcome,
            "answer": end.answer,
            "error": end.reason if end.outcome is not Outcome.COMPLETED else None,
            "steps": end.steps,
            "tool_call_count": end.tool_calls,
            "usage": end.usage,
        }
    )


def failed_result(output: Any) -> RunResult | None:
    """The result a failed run carries in its failure message (the orchestrator raises
    with the result's JSON after its teardown), or None."""
    if not isinstance(output, str) or "{" not in output:
        return None
    return _parse(RunResult, output[output.index("{") :])


def _runtime_status(value: str | None) -> RuntimeStatus:
    """The status the view shows: `ContinuedAsNew` is a moment of a run going on."""
    try:
        status = RuntimeStatus(value or RuntimeStatus.PENDING)
    except ValueError:  # a status this code does not know yet: not an ending it knows
        return RuntimeStatus.RUNNING
    return RuntimeStatus.RUNNING if status is RuntimeStatus.CONTINUED_AS_NEW else status


def _parse(model: type[M], value: Any) -> M | None:
    if value is None:
        return None
    try:
        return model.from_json(value)
    except (ValidationError, ValueError):
        return None


def _aware(value: datetime | None) -> datetime | None:
    """A timestamp in UTC when the client gave it without a zone."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)
