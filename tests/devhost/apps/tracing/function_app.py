# mypy: disable-error-code="untyped-decorator"
"""Sample app for trace context: functions report the span they run in."""

import json
from collections.abc import Generator
from typing import Any

import azure.durable_functions as df
import azure.functions as func
from opentelemetry import trace

app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)


def current_traceparent() -> str | None:
    """The current OpenTelemetry span as a traceparent (None when there is none)."""
    span = trace.get_current_span().get_span_context()
    if not span.is_valid:
        return None
    return f"00-{span.trace_id:032x}-{span.span_id:016x}-{int(span.trace_flags):02x}"


@app.route(route="whoami", methods=["GET"])
def whoami(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    body = {
        "traceparent": context.trace_context.trace_parent,
        "tracestate": context.trace_context.trace_state,
        "current": current_traceparent(),
    }
    return func.HttpResponse(json.dumps(body), mimetype="application/json")


@app.route(route="traced", methods=["POST"])
@app.durable_client_input(client_name="client")
async def start_traced(
    req: func.HttpRequest, client: df.DurableOrchestrationClient, context: func.Context
) -> func.HttpResponse:
    # The client sends the current OpenTelemetry span on as `traceparent`.
    instance_id = await client.start_new("traced")
    body = {"id": instance_id, "traceparent": context.trace_context.trace_parent}
    return func.HttpResponse(json.dumps(body), mimetype="application/json")


@app.orchestration_trigger(context_name="context")
def traced(context: df.DurableOrchestrationContext) -> Generator[Any, Any, list[str]]:
    first = yield context.call_activity("where", "first")
    second = yield context.call_activity("where", "second")
    below = yield context.call_sub_orchestrator("traced_child")
    return [first, second, below]


@app.orchestration_trigger(context_name="context")
def traced_child(context: df.DurableOrchestrationContext) -> Generator[Any, Any, str]:
    found: str = yield context.call_activity("where", "child")
    return found


@app.activity_trigger(input_name="name")
def where(name: str, context: func.Context) -> str:
    return context.trace_context.trace_parent
