"""Trace context: the invocation's span from the caller's `traceparent`, carried through
the durable client into orchestrations, their activities and sub-orchestrations."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
import requests

from devhost.tracing import Carried, TraceParent
from localrun.devhost_process import DevhostProcess, running_devhost
from tests.support.devhost_apps import APPS

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER = "00f067aa0ba902b7"
HEADERS = {"traceparent": f"00-{TRACE}-{CALLER}-01", "tracestate": "congo=t61rcWkgMzE"}
TRACEPARENT = re.compile(r"^00-[0-9a-f]{32}-[0-9a-f]{16}-01$")


@pytest.fixture(scope="module")
def traced_host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevhostProcess]:
    data_dir = tmp_path_factory.mktemp("tracing-data")
    env = {"PYTHON_ENABLE_OPENTELEMETRY": "true"}
    with running_devhost(APPS / "tracing", data_dir=data_dir, env=env) as running:
        yield running


def test_http_invocation_gets_a_span_under_the_callers(traced_host: DevhostProcess) -> None:
    seen = requests.get(f"{traced_host.url}/api/whoami", headers=HEADERS, timeout=10).json()
    parent = TraceParent.parse(seen["traceparent"])
    assert parent is not None
    assert parent.trace_id == TRACE
    assert parent.span_id != CALLER  # the host's own invocation span
    assert seen["tracestate"] == HEADERS["tracestate"]
    # PYTHON_ENABLE_OPENTELEMETRY: the worker makes that span the current context.
    assert seen["current"] == seen["traceparent"]


def test_without_a_caller_each_request_starts_a_trace(traced_host: DevhostProcess) -> None:
    one = requests.get(f"{traced_host.url}/api/whoami", timeout=10).json()["traceparent"]
    two = requests.get(f"{traced_host.url}/api/whoami", timeout=10).json()["traceparent"]
    assert TRACEPARENT.match(one) and TRACEPARENT.match(two)
    assert one[3:35] != two[3:35]


def test_orchestration_activities_and_sub_orchestrations_stay_in_the_trace(
    traced_host: DevhostProcess,
) -> None:
    started = requests.post(f"{traced_host.url}/api/traced", headers=HEADERS, timeout=10).json()
    status = traced_host.wait(started["id"], timeout=30)
    assert status["runtimeStatus"] == "Completed"
    spans = [TraceParent.parse(value) for value in status["output"]]
    assert all(span is not None and span.trace_id == TRACE for span in spans)
    ids = {span.span_id for span in spans if span is not None}
    assert len(ids) == 3 and CALLER not in ids
    assert started["traceparent"][36:52] not in ids


def test_trace_context_parsing() -> None:
    assert TraceParent.parse("00-" + "0" * 32 + "-00f067aa0ba902b7-01") is None
    assert TraceParent.parse("ff-" + TRACE + "-00f067aa0ba902b7-01") is None
    assert TraceParent.parse("garbage") is None
    assert Carried.from_headers({"traceparent": "garbage"}).parent.trace_id != TRACE
    carried = Carried.from_headers(HEADERS)
    assert carried.invocation().trace_parent.startswith(f"00-{TRACE}-")
