"""Every activity the app registers runs inside its span, a child of the run span."""

from __future__ import annotations

import contextlib

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from durable_assistant import telemetry
from tests.support.function_index import index_app, raw_bindings

TRACE_PARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def activity_names() -> list[str]:
    return sorted(
        name
        for name, function in index_app({}).items()
        if any(b["type"] == "activityTrigger" for b in raw_bindings(function))
    )


@pytest.mark.parametrize("name", activity_names())
def test_every_activity_has_its_span_under_the_run(spans: InMemorySpanExporter, name: str) -> None:
    function = index_app({})[name].get_user_function()
    carried = {"traceparent": TRACE_PARENT, "model": "m"}
    # An input the activity cannot read: it fails, inside its span, without a model call.
    with contextlib.suppress(Exception):
        function({"instance_id": "run-1", telemetry.CARRY_KEY: carried})
    (span,) = [s for s in spans.get_finished_spans() if s.name == f"activity {name}"]
    run = telemetry.run_span_context(TRACE_PARENT, "run-1")
    assert run is not None and span.parent is not None
    assert (span.parent.trace_id, span.parent.span_id) == (run.trace_id, run.span_id)
    assert (span.attributes or {})[telemetry.INSTANCE_ID] == "run-1"
