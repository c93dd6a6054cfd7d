"""Replays emit no spans: the run span comes once, from the episode that ends the run.

The orchestrator runs on the real Durable Functions replay executor (the worker's
entry point), episode after episode, each replaying the whole history before it.
"""

from __future__ import annotations

from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from durable_assistant import telemetry
from durable_assistant.model import StartInput, ToolResult
from tests.orchestration.history import START, OrchestrationHost
from tests.orchestration.runs import (
    INSTANCE,
    call,
    completed,
    make_plan,
    orchestrator_entry,
    requires,
    teardown_done,
)

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
REQUEST_SPAN = "00f067aa0ba902b7"
TRACE_PARENT = f"00-{TRACE_ID}-{REQUEST_SPAN}-01"


def run_span_names(spans: InMemorySpanExporter) -> list[str]:
    return [span.name for span in spans.get_finished_spans()]


def test_the_run_span_is_emitted_once_whatever_is_replayed(spans: InMemorySpanExporter) -> None:
    plan = make_plan(trace_parent=TRACE_PARENT)
    host = OrchestrationHost(orchestrator_entry(), plan.to_json(), instance_id=INSTANCE)

    first = host.run()
    start = first.only("start_run")
    assert start.input[telemetry.CARRY_KEY]["traceparent"] == TRACE_PARENT
    assert (
        StartInput.from_json(
            {k: v for k, v in start.input.items() if k != telemetry.CARRY_KEY}
        ).plan
        == plan
    )

    cat = call("call-cat", "my_cat_born_date", cat_name="Mike")
    tools = host.complete(start, requires(cat, tokens=5)).run()
    (run_cat,) = tools.activities("run_tool")
    assert run_cat.input[telemetry.CARRY_KEY]["traceparent"] == TRACE_PARENT
    output = ToolResult(call_id="call-cat", name="my_cat_born_date", output="2016-03-01")
    submit = host.complete(run_cat, output.to_json()).run()
    ending = host.complete(submit.only("submit_tool_outputs"), completed("7 flights")).run()
    assert run_span_names(spans) == [], "an orchestrator span before the run ended"

    final = host.complete(ending.only("teardown_run"), teardown_done()).run()
    assert final.done
    (run,) = spans.get_finished_spans()

    # Replaying the whole history, every event already played, emits nothing more.
    for event in host.history:
        event["IsPlayed"] = True
    host.replay()
    host.replay()
    assert len(spans.get_finished_spans()) == 1

    assert run.name == "invoke_agent durable-assistant"
    expected = telemetry.run_span_context(TRACE_PARENT, INSTANCE)
    assert expected is not None
    assert (run.context.trace_id, run.context.span_id) == (expected.trace_id, expected.span_id)
    assert run.parent is not None
    assert f"{run.parent.span_id:016x}" == REQUEST_SPAN
    assert run.start_time == int(START.timestamp() * 1e9)
    attributes = dict(run.attributes or {})
    assert attributes[telemetry.INSTANCE_ID] == INSTANCE
    assert attributes["durable_assistant.outcome"] == "completed"
    assert attributes["gen_ai.usage.input_tokens"] == 15
    assert attributes["durable_assistant.tool_calls"] == 1


def test_an_ending_episode_run_again_emits_the_same_span(spans: InMemorySpanExporter) -> None:
    """A host may run an episode again when its results were not saved: the run span
    it emits then has the same ids, so the trace still has one run span."""
    host = OrchestrationHost(
        orchestrator_entry(), make_plan(trace_parent=TRACE_PARENT).to_json(), instance_id=INSTANCE
    )
    ending = host.complete(host.run().only("start_run"), completed("done")).run()
    host.complete(ending.only("teardown_run"), teardown_done()).run()
    host.replay()  # the last episode's events are still unplayed: it runs again
    first, again = spans.get_finished_spans()
    assert first.context == again.context
    assert first.parent == again.parent


def test_a_run_without_a_trace_context_schedules_plain_payloads(
    spans: InMemorySpanExporter,
) -> None:
    host = OrchestrationHost(orchestrator_entry(), make_plan().to_json(), instance_id=INSTANCE)
    start = host.run().only("start_run")
    assert telemetry.CARRY_KEY not in start.input
    ending = host.complete(start, completed("done")).run()
    host.complete(ending.only("teardown_run"), teardown_done()).run()
    assert run_span_names(spans) == []
