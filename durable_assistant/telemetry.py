"""OpenTelemetry for the app: where telemetry goes, and the spans of one run.

One trace per run, whatever the host propagates:

    POST /api/runs                          server span of the HTTP trigger
    └─ invoke_agent durable-assistant       the run, from start to teardown
       ├─ activity start_run                one per activity execution
       │  └─ chat <model>                   the model call: status, response id, tokens
       ├─ activity poll_run ─ chat <model>
       ├─ activity run_tool ─ execute_tool <name>     tool name and call id
       ├─ activity submit_tool_outputs ─ chat <model>
       └─ activity teardown_run

The trigger writes the W3C `traceparent` of its span into the run plan. The run span's
id is derived from it and the instance id, so the orchestrator and every activity know
it without storing it. The orchestrator hands the plan's trace context to each
activity inside the payload (`carry`), and emits the run span itself once, when it is
not replaying, when the run ends: replays add no span. Activities run only once per
attempt, so their spans are never duplicated by replays either.

Where telemetry goes (`configure`, once per process):

- a TracerProvider already installed (the Functions Python worker installs Azure
  Monitor itself when `PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY=true`): used as is;
- `APPLICATIONINSIGHTS_CONNECTION_STRING`: Azure Monitor (traces, logs with their
  `extra` fields as custom dimensions), authenticated as the exporter reads
  `APPLICATIONINSIGHTS_AUTHENTICATION_STRING` (the app's managed identity in Azure);
- `OTEL_TRACES_EXPORTER` / `OTEL_LOGS_EXPORTER` = `otlp` or `console`: the SDK with
  that exporter, configured by the standard `OTEL_*` variables;
- otherwise nothing: spans are the API's no-ops.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import re
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from datetime import datetime
from typing import Any, TypeVar, cast

from opentelemetry import trace
from opentelemetry._logs import set_logger_provider
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor, ConsoleLogExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter
from opentelemetry.sdk.trace.id_generator import IdGenerator
from opentelemetry.trace import Span, SpanContext, SpanKind, Status, StatusCode, TraceFlags
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from durable_assistant.model import (
    RunHandle,
    RunPlan,
    RunState,
    RunStatus,
    ToolInvocation,
    ToolResult,
    Usage,
)

logger = logging.getLogger(__name__)

TRACER_NAME = "durable_assistant"
SERVICE_NAME = "durable-assistant"
AGENT_NAME = "durable-assistant"
PROVIDER_NAME = "azure.ai.openai"
CARRY_KEY = "telemetry"
"""The key under which an activity payload carries the run's trace context."""

TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")

# Attribute names: OpenTelemetry's GenAI conventions, DurableTask's own for instances.
INSTANCE_ID = "durabletask.task.instance_id"
TASK_NAME = "durabletask.task.name"
TASK_TYPE = "durabletask.type"
BACKEND = "durable_assistant.backend"

F = TypeVar("F", bound=Callable[..., Any])


class _State:
    """What this process set up: the destination's name, and a provider tests chose."""

    destination: str | None = None
    provider: trace.TracerProvider | None = None


_state = _State()
_fixed_span_id: ContextVar[int | None] = ContextVar("fixed_span_id", default=None)


# -- where telemetry goes --


def configure(environ: Mapping[str, str] | None = None) -> str:
    """Set up the exporters once for this process; the destination's name.

    Never raises: telemetry must not stop the app from loading.
    """
    if _state.destination is not None:
        return _state.destination
    env = os.environ if environ is None else environ
    try:
        _state.destination = _configure(env)
    except Exception as error:  # a broken exporter setup must not stop the app
        logger.warning("telemetry is off: %s", error)
        _state.destination = "none"
    _install_run_span_ids(trace.get_tracer_provider())
    return _state.destination


def _configure(env: Mapping[str, str]) -> str:
    if _sdk_provider(trace.get_tracer_provider()):
        return "existing"
    if env.get("APPLICATIONINSIGHTS_CONNECTION_STRING", "").strip():
        # Imported here: it loads every instrumentation the distro knows.
        from azure.monitor.opentelemetry import configure_azure_monitor  # noqa: PLC0415

        configure_azure_monitor(resource=_resource(env), enable_live_metrics=False)
        return "azure_monitor"
    traces = _exporter_names(env, "OTEL_TRACES_EXPORTER")
    logs = _exporter_names(env, "OTEL_LOGS_EXPORTER")
    if not traces and not logs:
        return "none"
    if traces:
        _set_up_traces(env, traces)
    if logs:
        _set_up_logs(env, logs)
    return "+".join(sorted(traces | logs))


def _exporter_names(env: Mapping[str, str], name: str) -> set[str]:
    asked = {part.strip().lower() for part in env.get(name, "").split(",")}
    return asked & {"otlp", "console"}


def _resource(env: Mapping[str, str]) -> Resource:
    attributes = {} if env.get("OTEL_SERVICE_NAME") else {"service.name": SERVICE_NAME}
    return Resource.create(attributes)  # adds OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES


def _set_up_traces(env: Mapping[str, str], names: set[str]) -> None:
    provider = TracerProvider(resource=_resource(env))
    if "otlp" in names:
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    if "console" in names:
        provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter()))
    trace.set_tracer_provider(provider)


def _set_up_logs(env: Mapping[str, str], names: set[str]) -> None:
    provider = LoggerProvider(resource=_resource(env))
    if "otlp" in names:
        provider.add_log_record_processor(BatchLogRecordProcessor(OTLPLogExporter()))
    if "console" in names:
        provider.add_log_record_processor(BatchLogRecordProcessor(ConsoleLogExporter()))
    set_logger_provider(provider)
    logging.getLogger().addHandler(LoggingHandler(logger_provider=provider))


def _sdk_provider(provider: object) -> bool:
    return hasattr(provider, "id_generator") and hasattr(provider, "add_span_processor")


def use_provider(provider: trace.TracerProvider | None) -> None:
    """Send this module's spans to `provider` (tests: an in-memory exporter); None goes
    back to the global provider."""
    _state.provider = provider
    _install_run_span_ids(provider)


def tracer() -> trace.Tracer:
    """The app's tracer, from the provider in use now."""
    provider = _state.provider or trace.get_tracer_provider()
    return provider.get_tracer(TRACER_NAME)


class _RunSpanIds(IdGenerator):
    """The provider's own ids, except the one span whose id is fixed by `_fixed_span_id`."""

    def __init__(self, ids: IdGenerator) -> None:
        self._ids = ids

    def generate_span_id(self) -> int:
        fixed = _fixed_span_id.get()
        return fixed if fixed is not None else self._ids.generate_span_id()

    def generate_trace_id(self) -> int:
        return self._ids.generate_trace_id()

    def is_trace_id_random(self) -> bool:
        return self._ids.is_trace_id_random()


def _install_run_span_ids(provider: object) -> None:
    ids = getattr(provider, "id_generator", None)
    if isinstance(ids, IdGenerator) and not isinstance(ids, _RunSpanIds):
        provider.id_generator = _RunSpanIds(ids)  # type: ignore[attr-defined]


# -- the run's trace context --


def traceparent_of(context: SpanContext) -> str | None:
    """The W3C traceparent of a span context, or None when it is not valid."""
    if not context.is_valid:
        return None
    return f"00-{context.trace_id:032x}-{context.span_id:016x}-{int(context.trace_flags):02x}"


def run_span_context(trace_parent: str | None, instance_id: str) -> SpanContext | None:
    """The run span's context: the trigger span's trace, an id derived from the pair."""
    parsed = TRACEPARENT.match(trace_parent or "")
    if parsed is None:
        return None
    digest = hashlib.sha256(f"{trace_parent}/{instance_id}".encode()).hexdigest()
    return SpanContext(
        trace_id=int(parsed.group(1), 16),
        span_id=int(digest[:16], 16) or 1,
        is_remote=True,
        trace_flags=TraceFlags(int(parsed.group(3), 16)),
    )


def carry(payload: dict[str, Any], plan: RunPlan) -> dict[str, Any]:
    """An activity payload with the run's trace context (unchanged without one)."""
    if plan.trace_parent is None:
        return payload
    return {**payload, CARRY_KEY: {"traceparent": plan.trace_parent, "model": plan.model}}


def _carried(payload: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """The payload without the carried context, and the context."""
    if CARRY_KEY not in payload:
        return payload, {}
    rest = {key: value for key, value in payload.items() if key != CARRY_KEY}
    carried = payload[CARRY_KEY]
    return rest, carried if isinstance(carried, dict) else {}


def _instance_of(payload: Mapping[str, Any]) -> str:
    found = payload.get("instance_id") or payload.get("handle", {}).get("instance_id")
    return str(found or "")


# -- the HTTP trigger --


def traced_request(method: str, route: str) -> Callable[[F], F]:
    """Run an async HTTP function inside a server span named `METHOD /route`.

    The span continues the caller's trace: the host's (when the worker made it
    current) or the request's `traceparent` header.
    """

    def decorate(function: F) -> F:
        @functools.wraps(function)
        async def wrapper(req: Any, *args: Any, **kwargs: Any) -> Any:
            parent = None
            if not trace.get_current_span().get_span_context().is_valid:
                headers = {k.lower(): v for k, v in dict(getattr(req, "headers", {})).items()}
                parent = TraceContextTextMapPropagator().extract(headers)
            with tracer().start_as_current_span(
                f"{method} {route}",
                context=parent,
                kind=SpanKind.SERVER,
                attributes={"http.request.method": method, "http.route": route},
            ) as span:
                response = await function(req, *args, **kwargs)
                status = getattr(response, "status_code", None)
                if isinstance(status, int):
                    span.set_attribute("http.response.status_code", status)
                    if status >= 500:
                        span.set_status(Status(StatusCode.ERROR))
                return response

        return cast("F", wrapper)

    return decorate


def traced_plan(plan: RunPlan) -> RunPlan:
    """The plan with the trace context of the current (request) span, to start a run."""
    parent = traceparent_of(trace.get_current_span().get_span_context())
    return plan if parent is None else plan.model_copy(update={"trace_parent": parent})


def annotate(instance_id: str, plan: RunPlan) -> None:
    """Put the run's instance id and backend on the current span."""
    span = trace.get_current_span()
    span.set_attribute(INSTANCE_ID, instance_id)
    span.set_attribute(BACKEND, plan.backend.value)


# -- activities --


def traced_activity(name: str) -> Callable[[F], F]:
    """Run an activity function (payload dict in, dict out) inside its span.

    The payload's carried trace context (if any) is taken off before the function
    sees it and makes the span a child of the run span. Model-service activities get
    a GenAI `chat` span around the call, the tool activity an `execute_tool` span.
    """

    def decorate(function: F) -> F:
        @functools.wraps(function)
        def wrapper(payload: dict[str, Any]) -> Any:
            body, carried = _carried(payload)
            instance_id = _instance_of(body)
            run = run_span_context(carried.get("traceparent"), instance_id)
            parent = trace.set_span_in_context(trace.NonRecordingSpan(run)) if run else None
            attributes = {INSTANCE_ID: instance_id, TASK_NAME: name, TASK_TYPE: "activity"}
            with tracer().start_as_current_span(
                f"activity {name}", context=parent, attributes=attributes
            ) as span:
                if name == "run_tool":
                    return _traced_tool(function, body)
                if name in MODEL_CALLS:
                    return _traced_model_call(function, body, name, carried.get("model"))
                result = function(body)
                _teardown_attributes(span, result)
                return result

        return cast("F", wrapper)

    return decorate


MODEL_CALLS = frozenset({"start_run", "poll_run", "submit_tool_outputs", "cancel_run"})


def _traced_model_call(
    function: Callable[[dict[str, Any]], Any], body: dict[str, Any], name: str, model: Any
) -> Any:
    model = model or body.get("plan", {}).get("model")
    attributes: dict[str, Any] = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": PROVIDER_NAME,
        INSTANCE_ID: _instance_of(body),
        "durable_assistant.operation": name,
    }
    if model:
        attributes["gen_ai.request.model"] = str(model)
    title = f"chat {model}" if model else "chat"
    with tracer().start_as_current_span(title, kind=SpanKind.CLIENT, attributes=attributes) as span:
        result = function(body)
        if span.is_recording():  # reading the result back costs nothing when tracing is off
            handle = RunHandle.model_validate(result.get("handle", {}))
            state = RunState.model_validate(result.get("state", {}))
            _model_attributes(span, handle, state)
        return result


def _model_attributes(span: Span, handle: RunHandle, state: RunState) -> None:
    span.set_attribute(BACKEND, handle.backend.value)
    span.set_attribute("durable_assistant.run.status", state.status.value)
    response_id = handle.response_id or handle.run_id
    if response_id:
        span.set_attribute("gen_ai.response.id", response_id)
    if handle.thread_id:
        span.set_attribute("gen_ai.conversation.id", handle.thread_id)
    if state.usage is not None:
        _usage_attributes(span, state.usage)
    if state.status in (RunStatus.FAILED, RunStatus.EXPIRED):
        span.set_attribute("error.type", state.status.value)
        span.set_status(Status(StatusCode.ERROR, state.reason))


def _usage_attributes(span: Span, usage: Usage) -> None:
    span.set_attribute("gen_ai.usage.input_tokens", usage.prompt_tokens)
    span.set_attribute("gen_ai.usage.output_tokens", usage.completion_tokens)


def _traced_tool(function: Callable[[dict[str, Any]], Any], body: dict[str, Any]) -> Any:
    invocation = ToolInvocation.model_validate(body)
    call = invocation.call
    attributes = {
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": call.name,
        "gen_ai.tool.call.id": call.call_id,
        "gen_ai.tool.type": "function",
        INSTANCE_ID: invocation.instance_id,
    }
    with tracer().start_as_current_span(f"execute_tool {call.name}", attributes=attributes) as span:
        output = function(body)
        result = ToolResult.model_validate(output) if span.is_recording() else None
        if result is not None and not result.ok:
            span.set_attribute("error.type", "tool_error")
            span.set_status(Status(StatusCode.ERROR, result.output[:200]))
        return output


def _teardown_attributes(span: Span, result: Any) -> None:
    if isinstance(result, dict):
        for key in ("deleted", "already_gone", "failed"):
            if isinstance(result.get(key), list):
                span.set_attribute(f"durable_assistant.teardown.{key}", len(result[key]))


# -- the run span, from the orchestrator --


def record_run(
    plan: RunPlan,
    instance_id: str,
    *,
    started_at: datetime,
    finished_at: datetime,
    outcome: str,
    usage: Usage,
    tool_calls: int,
    failed: bool,
) -> None:
    """Emit the run span (its id derived, its times the orchestration's own).

    The orchestrator calls this once, when not replaying; without a trace context in
    the plan (a run started before tracing, or by a caller that sent none) there is
    no run trace to complete and nothing is emitted.
    """
    run = run_span_context(plan.trace_parent, instance_id)
    parsed = TRACEPARENT.match(plan.trace_parent or "")
    if run is None or parsed is None:
        return
    parent = SpanContext(
        trace_id=run.trace_id,
        span_id=int(parsed.group(2), 16),
        is_remote=True,
        trace_flags=run.trace_flags,
    )
    attributes: dict[str, Any] = {
        "gen_ai.operation.name": "invoke_agent",
        "gen_ai.agent.name": AGENT_NAME,
        "gen_ai.provider.name": PROVIDER_NAME,
        "gen_ai.request.model": plan.model,
        INSTANCE_ID: instance_id,
        TASK_TYPE: "orchestration",
        BACKEND: plan.backend.value,
        "durable_assistant.outcome": outcome,
        "durable_assistant.tool_calls": tool_calls,
    }
    token = _fixed_span_id.set(run.span_id)
    try:
        span = tracer().start_span(
            f"invoke_agent {AGENT_NAME}",
            context=trace.set_span_in_context(trace.NonRecordingSpan(parent)),
            attributes=attributes,
            start_time=_nanos(started_at),
        )
    finally:
        _fixed_span_id.reset(token)
    _usage_attributes(span, usage)
    if failed:
        span.set_status(Status(StatusCode.ERROR, outcome))
    span.end(end_time=_nanos(finished_at))


def _nanos(moment: datetime) -> int:
    return int(moment.timestamp() * 1_000_000_000)
