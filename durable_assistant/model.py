"""The domain model: what crosses activity and orchestration boundaries.

Every value here is small and JSON-serialisable: ids, statuses and short results,
never a transcript, so orchestration history stays small. Each model validates the
fields it knows, so malformed JSON fails with an error that names the field instead
of surfacing later as a confusing state.

What is read back from orchestration history (`Stored`: activity inputs and outputs,
the orchestration's input, custom status and output) may have been written by an
older or a newer deploy: a field the reader does not know is ignored, and each such
payload carries the `schema_version` it was written with. Public request bodies
(`Request`) are the opposite: a field the API does not know is refused.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any, Self

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
)


class Model(BaseModel):
    """Base of every domain value: immutable; fields it does not know are ignored."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    def to_json(self) -> dict[str, Any]:
        """The JSON-ready dict that crosses an activity boundary."""
        return self.model_dump(mode="json")

    @classmethod
    def from_json(cls, data: Any) -> Self:
        """Validate a decoded JSON value (dict) or a JSON string into this model."""
        if isinstance(data, str | bytes):
            return cls.model_validate_json(data)
        return cls.model_validate(data)


class Request(Model):
    """A public request body: a field the API does not know is refused, by name."""

    model_config = ConfigDict(frozen=True, extra="forbid")


SCHEMA_VERSION = 1
"""The version of the stored payloads' shape this code writes. Raise it when a
payload's meaning changes in a way an older reader must not take for the old one."""


class Stored(Model):
    """A payload written to orchestration history and read back on every replay."""

    schema_version: int = SCHEMA_VERSION

    @field_validator("schema_version")
    @classmethod
    def _readable(cls, version: int) -> int:
        if not 1 <= version <= SCHEMA_VERSION:
            raise ValueError(
                f"written with schema version {version}; this code reads versions 1 to "
                f"{SCHEMA_VERSION} (a newer deploy wrote it)"
            )
        return version


Location = tuple[int | str, ...]


def validation_problems(
    error: ValidationError, words: Mapping[str, str] | None = None
) -> list[tuple[Location, str]]:
    """Each problem as (where, message): pydantic's message, or `words[type]` where
    the caller has plainer words for an error type (e.g. "missing")."""
    words = words or {}
    return [(tuple(item["loc"]), words.get(item["type"], item["msg"])) for item in error.errors()]


def dotted(location: Location) -> str:
    """A field path as people write it (`a.b.0`); "body" for the whole value."""
    return ".".join(str(part) for part in location) or "body"


def describe_validation_error(error: ValidationError) -> str:
    """One readable line per problem, naming the field: for tool arguments and logs."""
    return "; ".join(f"{dotted(where)}: {message}" for where, message in validation_problems(error))


MAX_REASON_CHARS = 1_000


def short(text: str, limit: int = MAX_REASON_CHARS) -> str:
    """A reason or error text cut to `limit` characters (with "…"): results and statuses
    live in orchestration history, which must stay small."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


class Backend(StrEnum):
    """Which model API runs the conversation."""

    ASSISTANTS = "assistants"
    RESPONSES = "responses"


class RuntimeStatus(StrEnum):
    """An orchestration's runtime status, spelled as Durable Functions spells it."""

    RUNNING = "Running"
    PENDING = "Pending"
    SUSPENDED = "Suspended"
    CONTINUED_AS_NEW = "ContinuedAsNew"
    COMPLETED = "Completed"
    FAILED = "Failed"
    TERMINATED = "Terminated"
    CANCELED = "Canceled"

    @property
    def is_finished(self) -> bool:
        return self in FINISHED_STATUSES


FINISHED_STATUSES = (
    RuntimeStatus.COMPLETED,
    RuntimeStatus.FAILED,
    RuntimeStatus.TERMINATED,
    RuntimeStatus.CANCELED,
)
"""The statuses an orchestration never leaves."""


class RunStatus(StrEnum):
    """Where a model run is, as the orchestration needs to know it."""

    PENDING = "pending"
    REQUIRES_ACTION = "requires_action"
    THROTTLED = "throttled"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    EXPIRED = "expired"
    INCOMPLETE = "incomplete"
    CONTENT_FILTERED = "content_filtered"

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL_STATUSES


TERMINAL_STATUSES = frozenset(
    {
        RunStatus.COMPLETED,
        RunStatus.FAILED,
        RunStatus.CANCELLED,
        RunStatus.EXPIRED,
        RunStatus.INCOMPLETE,
        RunStatus.CONTENT_FILTERED,
    }
)

MAX_QUESTION_CHARS = 32_000
MIN_DEADLINE_SECONDS, MAX_DEADLINE_SECONDS = 5, 86_400
MIN_POLL_MS = 50
DEFAULT_MAX_STEPS = 50
DEFAULT_HISTORY_EVENT_LIMIT, MIN_HISTORY_EVENT_LIMIT = 400, 20
"""Limits of a run, declared once: the settings, the request and the plan use them."""
MAX_INSTRUCTIONS_CHARS = 32_000


class RunRequest(Request):
    """What a caller asks for in `POST /api/runs` (unset fields take app defaults)."""

    question: str = Field(min_length=1, max_length=MAX_QUESTION_CHARS)
    backend: Backend | None = None
    instructions: str | None = Field(default=None, max_length=MAX_INSTRUCTIONS_CHARS)
    tools: list[str] | None = Field(default=None, max_length=128)
    model: str | None = Field(default=None, min_length=1, max_length=256)
    deadline_seconds: int | None = Field(
        default=None, ge=MIN_DEADLINE_SECONDS, le=MAX_DEADLINE_SECONDS, strict=True
    )


class RunPlan(Stored):
    """A request with every default resolved: the orchestration's input.

    Resolved by the HTTP trigger from settings, so the orchestrator never reads the
    environment (which could change between replays).
    """

    question: str = Field(min_length=1, max_length=MAX_QUESTION_CHARS)
    backend: Backend
    instructions: str
    tools: list[str]
    model: str = Field(min_length=1)
    deadline_seconds: int = Field(ge=MIN_DEADLINE_SECONDS, le=MAX_DEADLINE_SECONDS)
    poll_initial_ms: int = Field(ge=MIN_POLL_MS)
    poll_max_ms: int = Field(ge=MIN_POLL_MS)
    max_steps: int = Field(default=DEFAULT_MAX_STEPS, ge=1)
    history_event_limit: int = Field(
        default=DEFAULT_HISTORY_EVENT_LIMIT, ge=MIN_HISTORY_EVENT_LIMIT
    )
    trace_parent: str | None = Field(
        default=None, pattern=r"^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$"
    )  # W3C traceparent of the request that started the run (durable_assistant.telemetry)


class Unrecorded(Model):
    """A created object not yet in the ledger, and the intent that made it."""

    object_id: str = Field(min_length=1)
    attempt: str = Field(min_length=1)
    purpose: str = ""


class RunHandle(Stored):
    """Ids of the server-side objects one run created: all teardown needs."""

    backend: Backend
    instance_id: str
    assistant_id: str | None = None
    created_assistant: bool = False
    thread_id: str | None = None
    run_id: str | None = None
    response_id: str | None = None
    response_ids: list[str] = Field(default_factory=list)
    unrecorded: Unrecorded | None = None
    """The response whose turn ended the run, left for teardown's write to record
    (docs/ledger.md, "What a run costs")."""

    def with_response(self, response_id: str) -> RunHandle:
        """The handle after a new response joined the chain (Responses backend)."""
        ids = self.response_ids
        if response_id not in ids:
            ids = [*ids, response_id]
        return self.model_copy(update={"response_id": response_id, "response_ids": ids})

    def leaving_unrecorded(self, response_id: str, attempt: str, purpose: str) -> RunHandle:
        """The handle after `response_id` ended the run: teardown records it (and
        settles the intent `attempt` that made it) with its deletion mark."""
        unrecorded = Unrecorded(object_id=response_id, attempt=attempt, purpose=purpose)
        return self.with_response(response_id).model_copy(update={"unrecorded": unrecorded})


MAX_TOOL_NAME_CHARS = 256
MAX_ARGUMENTS_CHARS = 32_000
MAX_ANSWER_CHARS = 100_000
"""Bounds of the model-provided strings the app stores (history, result, trace): the
model can send anything, and history must stay small. A longer tool name is no
registered tool anyway; longer arguments are cut (and then fail validation, which
the model is told); a longer answer is cut with "…"."""


class ToolCall(Model):
    """One function call the model asked for; arguments are the model's raw JSON text."""

    call_id: str = Field(min_length=1)
    name: str
    arguments: str = ""

    @classmethod
    def from_model(cls, call_id: str, name: str, arguments: str) -> ToolCall:
        """A call as the model sent it, its name and arguments cut to their bounds."""
        return cls(
            call_id=call_id,
            name=short(name, MAX_TOOL_NAME_CHARS),
            arguments=short(arguments, MAX_ARGUMENTS_CHARS),
        )


class ToolResult(Stored):
    """The output text returned to the model for one call (errors included)."""

    call_id: str = Field(min_length=1)
    name: str
    output: str
    ok: bool = True
    duration_ms: int = 0


class Usage(Model):
    """Token usage, added up across the steps of a run."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            prompt_tokens=self.prompt_tokens + other.prompt_tokens,
            completion_tokens=self.completion_tokens + other.completion_tokens,
            total_tokens=self.total_tokens + other.total_tokens,
        )


class RunState(Model):
    """What a poll, start or submit learned about the run.

    `requires_action` carries the tool calls; `completed` the answer and usage;
    failed/cancelled/expired/incomplete a reason; `throttled` how long the service
    asked us to wait (after the SDK's own retries gave up).
    """

    status: RunStatus
    tool_calls: list[ToolCall] = Field(default_factory=list)
    answer: str | None = None
    usage: Usage | None = None
    reason: str | None = None
    poll_after_ms: int | None = Field(default=None, ge=0)
    retry_after_seconds: float | None = Field(default=None, ge=0)


class Step(Stored):
    """A backend operation's result: the (possibly updated) handle and the state."""

    handle: RunHandle
    state: RunState
    tools_announced: bool = False
    """The activity wrote the `started` events of the step's tool calls, in the slots
    the orchestrator named (`events.StepAhead`), so the tool calls do not."""


class StartInput(Stored):
    """Input of the start activity. `handle` is set when resuming a throttled start."""

    instance_id: str = Field(min_length=1)
    plan: RunPlan
    handle: RunHandle | None = None


class ToolInvocation(Stored):
    """Input of the tool activity: one call, and the tools this run may use."""

    instance_id: str
    call: ToolCall
    allowed_tools: list[str]


class SubmitInput(Stored):
    """Input of the submit activity: every output of one step, submitted at once."""

    handle: RunHandle
    results: list[ToolResult]


class TeardownReport(Stored):
    """What teardown did, per object id."""

    deleted: list[str] = Field(default_factory=list)
    already_gone: list[str] = Field(default_factory=list)
    failed: list[str] = Field(default_factory=list)


class Phase(StrEnum):
    """The orchestration's phase, shown in its custom status."""

    STARTING = "starting"
    WAITING_FOR_MODEL = "waiting_for_model"
    RUNNING_TOOLS = "running_tools"
    SUBMITTING = "submitting"
    TEARING_DOWN = "tearing_down"
    DONE = "done"


class Outcome(StrEnum):
    """How a run ended, as the caller sees it."""

    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    EXPIRED = "expired"
    INCOMPLETE = "incomplete"
    CONTENT_FILTERED = "content_filtered"
    DEADLINE_EXCEEDED = "deadline_exceeded"


class ToolTrace(Model):
    """One tool call as reported to the caller: arguments and a short output."""

    step: int
    call_id: str
    name: str
    arguments: str
    output: str
    ok: bool
    duration_ms: int = 0


class Progress(Stored):
    """The orchestration's custom status: small, updated at each phase change."""

    phase: Phase
    step: int = 0
    tool_calls: int = 0
    usage: Usage = Field(default_factory=Usage)
    backend: Backend | None = None
    version: str | None = None


class RunResult(Stored):
    """The orchestration's output: the answer, or why there is none."""

    outcome: Outcome
    answer: str | None = None
    reason: str | None = None
    backend: Backend
    tool_calls: list[ToolTrace] = Field(default_factory=list)
    usage: Usage = Field(default_factory=Usage)
    steps: int = 0
    started_at: AwareDatetime
    finished_at: AwareDatetime
    version: str | None = None
    handle: RunHandle | None = None
    teardown: TeardownReport | None = None
