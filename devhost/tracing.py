"""W3C trace context, passed on as the Functions host and the Durable extension pass it.

The host starts a span for every invocation, a child of the caller's `traceparent`
(or a new trace without one), and hands it to the function as `context.trace_context`.
The durable client sends the caller's `traceparent` when it starts an orchestration;
the extension (distributed tracing v2) keeps it with the instance (`ParentTraceContext`
on `ExecutionStarted`), so every activity and sub-orchestration of the instance runs in
the same trace. devhost exports no spans of its own: it only hands the context on.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from azure.functions._abc import TraceContext as AbstractTraceContext

_TRACEPARENT = re.compile(r"^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")
_INVALID_TRACE = "0" * 32
_INVALID_SPAN = "0" * 16
OPENTELEMETRY_SETTING = "PYTHON_ENABLE_OPENTELEMETRY"


@dataclass(frozen=True)
class TraceParent:
    """The parts of a `traceparent` header that matter here."""

    trace_id: str
    span_id: str
    flags: str = "01"

    @classmethod
    def parse(cls, header: str | None) -> TraceParent | None:
        """A valid W3C `traceparent` (version 00 layout), else None."""
        found = _TRACEPARENT.match((header or "").strip().lower())
        if not found or found.group(1) == "ff":
            return None
        _, trace_id, span_id, flags = found.groups()
        if trace_id == _INVALID_TRACE or span_id == _INVALID_SPAN:
            return None
        return cls(trace_id, span_id, flags)

    @classmethod
    def new_trace(cls) -> TraceParent:
        """A new trace, sampled, as the host starts one for a request without context."""
        return cls(secrets.token_hex(16), secrets.token_hex(8), "01")

    def child(self) -> TraceParent:
        """A new span in the same trace."""
        return TraceParent(self.trace_id, secrets.token_hex(8), self.flags)

    def header(self) -> str:
        """As a `traceparent` header value."""
        return f"00-{self.trace_id}-{self.span_id}-{self.flags}"


class TraceContext(AbstractTraceContext):
    """`context.trace_context`: the invocation's own span."""

    def __init__(
        self,
        trace_parent: str,
        trace_state: str = "",
        attributes: Mapping[str, str] | None = None,
    ) -> None:
        self._trace_parent = trace_parent
        self._trace_state = trace_state
        self._attributes = dict(attributes or {})

    @property
    def trace_parent(self) -> str:
        return self._trace_parent

    @property
    def trace_state(self) -> str:
        return self._trace_state

    @property
    def attributes(self) -> dict[str, str]:
        return self._attributes


@dataclass(frozen=True)
class Carried:
    """The trace an invocation belongs to: where its span hangs, and the tracestate."""

    parent: TraceParent = field(default_factory=TraceParent.new_trace)
    state: str = ""

    @classmethod
    def from_headers(cls, headers: Mapping[str, str]) -> Carried:
        """From `traceparent`/`tracestate` headers; a new trace when they are missing."""
        parent = TraceParent.parse(headers.get("traceparent"))
        if parent is None:
            return cls()
        return cls(parent, headers.get("tracestate", ""))

    @classmethod
    def from_event(cls, item: Mapping[str, Any] | None) -> Carried:
        """From a history event's `ParentTraceContext` (a new trace when it has none)."""
        context = (item or {}).get("ParentTraceContext") or {}
        parent = TraceParent.parse(context.get("TraceParent"))
        if parent is None:
            return cls()
        return cls(parent, str(context.get("TraceState") or ""))

    def event_field(self) -> dict[str, Any]:
        """`ParentTraceContext` as DurableTask stores it on history events."""
        return {"TraceParent": self.parent.header(), "TraceState": self.state or None}

    def invocation(self) -> TraceContext:
        """The context of a new invocation span under this parent."""
        return TraceContext(self.parent.child().header(), self.state)

    def child(self) -> Carried:
        """A new span under this one, same trace and tracestate."""
        return Carried(self.parent.child(), self.state)


def execution_trace(caller: Carried) -> dict[str, Any]:
    """`ParentTraceContext` for a new orchestration execution: the caller's span as
    parent, plus the orchestration's own span (`Id`, `SpanId`), kept for its life so
    every activity and sub-orchestration hangs under it."""
    own = caller.parent.child()
    return {**caller.event_field(), "Id": own.header(), "SpanId": own.span_id}


def orchestration_span(started: Mapping[str, Any] | None) -> Carried:
    """The orchestration's own span, from its ExecutionStarted (a new trace without)."""
    context = (started or {}).get("ParentTraceContext") or {}
    own = TraceParent.parse(context.get("Id"))
    if own is None:
        return Carried()
    return Carried(own, str(context.get("TraceState") or ""))


def attach_if_enabled(context: TraceContext) -> Callable[[], None]:
    """With PYTHON_ENABLE_OPENTELEMETRY on, make the invocation's span the current
    OpenTelemetry context while the function runs, as the worker does; returns the undo."""
    if not _is_true(os.environ.get(OPENTELEMETRY_SETTING)):
        return lambda: None
    try:
        from opentelemetry import context as context_api  # noqa: PLC0415
        from opentelemetry.trace.propagation.tracecontext import (  # noqa: PLC0415
            TraceContextTextMapPropagator,
        )
    except ImportError:
        return lambda: None
    carrier = {"traceparent": context.trace_parent, "tracestate": context.trace_state}
    token = context_api.attach(TraceContextTextMapPropagator().extract(carrier))
    return lambda: context_api.detach(token)


def _is_true(value: str | None) -> bool:
    return (value or "").strip().lower() in ("true", "1")
