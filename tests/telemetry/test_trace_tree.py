"""One seed run is one trace, on each backend: POST /api/runs → the run → every activity →
every model call and tool call, to teardown, with the GenAI attributes on them.

The whole app runs as in `make run`: devhost serving function_app.py, the Azure OpenAI
emulator, Azurite. The app exports over OTLP/HTTP, set up only by `OTEL_*` variables,
to an in-memory collector; the test sends its own `traceparent` and reads the tree.
"""

from __future__ import annotations

import secrets
from collections import Counter
from collections.abc import Iterator

import pytest
import requests

from localrun.stack import DEPLOYMENT, SEED_QUESTION, running_stack
from tests.telemetry.collector import Collector, ExportedSpan, running_collector

RUN_SPAN = "invoke_agent durable-assistant"
INSTANCE_ID = "durabletask.task.instance_id"
SERVER, CLIENT = 2, 3  # OTLP span kinds
FASTAPI_SERVER_SPAN = "POST /{path}"  # FastAPI's own server span (HTTP-streams mode)


@pytest.fixture(scope="module")
def collector() -> Iterator[Collector]:
    with running_collector() as found:
        yield found


@pytest.fixture(scope="module")
def app(collector: Collector, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The local stack (Azurite, the emulator, devhost) exporting to `collector`; its URL."""
    overrides = {**collector.settings(), "TASKHUB_NAME": "traces"}
    data_dir = tmp_path_factory.mktemp("traces")
    with running_stack(data_dir, overrides=overrides) as stack:
        yield stack.app.url


def start(app: str, trace_parent: str | None, **body: str) -> str:
    """Run the seed question to its end under `trace_parent` (if any); the run's id."""
    reply = requests.post(
        f"{app}/api/runs",
        params={"wait": 60},
        json={"question": SEED_QUESTION, **body},
        headers={"traceparent": trace_parent} if trace_parent else {},
        timeout=90,
    )
    assert reply.status_code == 200, reply.text
    instance_id: str = reply.json()["id"]
    return instance_id


def children(spans: list[ExportedSpan], parent: ExportedSpan) -> list[ExportedSpan]:
    return [span for span in spans if span.parent_id == parent.span_id]


def caller_of(spans: list[ExportedSpan], span: ExportedSpan) -> str:
    """The span id `span` hangs under, seen past the spans FastAPI itself makes for each
    request in HTTP-streams mode (its server span, named by the catch-all route
    `/{path}`, and its `fastapi.*` spans inside)."""
    by_id = {s.span_id: s for s in spans}
    parent_id = span.parent_id
    while parent_id in by_id and is_fastapis_own(by_id[parent_id]):
        parent_id = by_id[parent_id].parent_id
    return parent_id


def is_fastapis_own(span: ExportedSpan) -> bool:
    return span.name.startswith("fastapi.") or span.name.endswith(" /{path}")


def only(spans: list[ExportedSpan], name: str) -> ExportedSpan:
    (found,) = [span for span in spans if span.name == name]
    return found


@pytest.mark.parametrize("backend", ["responses", "assistants"])
def test_one_seed_run_is_one_trace(app: str, collector: Collector, backend: str) -> None:
    trace_id, caller_span = secrets.token_hex(16), secrets.token_hex(8)
    instance_id = start(app, f"00-{trace_id}-{caller_span}-01", backend=backend)
    collector.wait_for(
        lambda c: (
            {RUN_SPAN, "activity teardown_run", "POST /api/runs", FASTAPI_SERVER_SPAN}
            <= {s.name for s in c.trace(trace_id)}
        )
    )
    spans = collector.trace(trace_id)
    assert len({span.span_id for span in spans}) == len(spans), "a span was emitted twice"

    request = only(spans, "POST /api/runs")
    assert (caller_of(spans, request), request.kind) == (caller_span, SERVER)
    assert request.attributes[INSTANCE_ID] == instance_id
    assert request.attributes["http.response.status_code"] == 200

    (run,) = children(spans, request)
    assert run.name == RUN_SPAN
    assert run.attributes[INSTANCE_ID] == instance_id
    assert run.attributes["durable_assistant.backend"] == backend
    assert run.attributes["durable_assistant.outcome"] == "completed"
    assert run.attributes["gen_ai.usage.output_tokens"] > 0

    activities = children(spans, run)
    counts = Counter(span.name for span in activities)
    assert counts["activity start_run"] == 1
    assert counts["activity run_tool"] == 2  # the seed: the cat's birth date, then flights
    assert counts["activity submit_tool_outputs"] == 2
    assert counts["activity teardown_run"] == 1
    assert set(counts) <= {
        "activity start_run",
        "activity poll_run",
        "activity run_tool",
        "activity submit_tool_outputs",
        "activity teardown_run",
    }
    assert all(span.attributes[INSTANCE_ID] == instance_id for span in activities)

    model_calls = [c for a in activities for c in children(spans, a) if c.kind == CLIENT]
    assert {a.name for a in activities if a.name != "activity run_tool"} - {
        "activity teardown_run"
    } == {next(a.name for a in activities if a.span_id == c.parent_id) for c in model_calls}
    for call in model_calls:
        assert call.name.startswith("chat ")
        assert call.attributes["gen_ai.operation.name"] == "chat"
        assert call.attributes["gen_ai.provider.name"] == "azure.ai.openai"
        assert call.attributes["gen_ai.request.model"] == DEPLOYMENT
        assert call.attributes[INSTANCE_ID] == instance_id
    finished = [
        c for c in model_calls if c.attributes["durable_assistant.run.status"] == "completed"
    ]
    assert finished and finished[-1].attributes["gen_ai.usage.input_tokens"] > 0

    tools = [c for a in activities if a.name == "activity run_tool" for c in children(spans, a)]
    assert sorted(t.name for t in tools) == [
        "execute_tool get_flights",
        "execute_tool my_cat_born_date",
    ]
    for tool in tools:
        assert tool.attributes["gen_ai.operation.name"] == "execute_tool"
        assert tool.attributes["gen_ai.tool.name"] == tool.name.removeprefix("execute_tool ")
        assert tool.attributes["gen_ai.tool.call.id"]

    covered = {request.span_id, run.span_id} | {s.span_id for s in activities}
    covered |= {s.span_id for s in model_calls} | {s.span_id for s in tools}
    covered |= {s.span_id for s in spans if is_fastapis_own(s)}
    strays = [s.name for s in spans if s.span_id not in covered and s.parent_id not in covered]
    assert not strays, f"spans outside the run's tree: {strays}"


def test_logs_carry_the_instance_id_and_the_trace(app: str, collector: Collector) -> None:
    trace_id = secrets.token_hex(16)
    instance_id = start(app, f"00-{trace_id}-{secrets.token_hex(8)}-01")
    collector.wait_for(
        lambda c: any(log.trace_id == trace_id and "run_tool" in log.body for log in c.logs)
    )
    with collector.lock:
        logs = [log for log in collector.logs if log.trace_id == trace_id]
    tool_logs = [log for log in logs if "run_tool" in log.body]
    assert all(log.attributes.get("instance_id") == instance_id for log in tool_logs)
    assert tool_logs
    # Each tool's log line is written inside its tool span, so it joins the trace there.
    # A span is exported when it ends, after the log lines written inside it.
    collector.wait_for(
        lambda c: {log.span_id for log in tool_logs} <= {span.span_id for span in c.trace(trace_id)}
    )
    spans = {span.span_id: span for span in collector.trace(trace_id)}
    assert all(spans[log.span_id].name.startswith("execute_tool ") for log in tool_logs)


def test_a_caller_without_trace_context_gets_a_new_trace(app: str, collector: Collector) -> None:
    instance_id = start(app, None)

    def request_span(found: Collector) -> list[ExportedSpan]:
        return [
            span
            for span in found.spans
            if span.name == "POST /api/runs" and span.attributes.get(INSTANCE_ID) == instance_id
        ]

    collector.wait_for(lambda c: bool(request_span(c)))
    (request,) = request_span(collector)
    collector.wait_for(lambda c: FASTAPI_SERVER_SPAN in {s.name for s in c.trace(request.trace_id)})
    assert caller_of(collector.trace(request.trace_id), request) == ""
    collector.wait_for(lambda c: RUN_SPAN in {s.name for s in c.trace(request.trace_id)})
    (run,) = children(collector.trace(request.trace_id), request)
    assert (run.name, run.attributes[INSTANCE_ID]) == (RUN_SPAN, instance_id)
