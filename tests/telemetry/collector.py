"""An in-memory OTLP/HTTP collector: what the app exports, kept for a test to read.

The app runs in its own process (devhost), so its spans and logs cannot be read from
an in-process exporter; it exports them with the real OTLP/HTTP exporter, configured
by the standard `OTEL_*` variables, to this server on a free loopback port.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

from tests.support.http_serving import serving


@dataclass(frozen=True)
class ExportedSpan:
    name: str
    trace_id: str
    span_id: str
    parent_id: str
    kind: int
    attributes: dict[str, Any]
    status_code: int


@dataclass(frozen=True)
class ExportedLog:
    body: str
    trace_id: str
    span_id: str
    attributes: dict[str, Any]


@dataclass
class Collector:
    """What arrived so far, and the OTEL_* settings that send it here."""

    url: str = ""
    spans: list[ExportedSpan] = field(default_factory=list)
    logs: list[ExportedLog] = field(default_factory=list)
    lock: threading.RLock = field(default_factory=threading.RLock)

    def settings(self) -> dict[str, str]:
        return {
            "OTEL_TRACES_EXPORTER": "otlp",
            "OTEL_LOGS_EXPORTER": "otlp",
            "OTEL_EXPORTER_OTLP_ENDPOINT": self.url,
            "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
            "OTEL_BSP_SCHEDULE_DELAY": "100",
            "OTEL_BLRP_SCHEDULE_DELAY": "100",
        }

    def wait_for(self, found: Callable[[Collector], bool], timeout: float = 30) -> None:
        """Wait until `found` holds for what arrived (exports come in batches)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if found(self):
                    return
            time.sleep(0.05)
        raise AssertionError(f"telemetry never arrived: {[s.name for s in self.spans]}")

    def trace(self, trace_id: str) -> list[ExportedSpan]:
        with self.lock:
            return [span for span in self.spans if span.trace_id == trace_id]


def _value(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    return getattr(value, kind) if kind else None


def _attributes(items: Any) -> dict[str, Any]:
    return {item.key: _value(item.value) for item in items}


def _handler(collector: Collector) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            if self.path == "/v1/traces":
                reply = self._traces(body)
            elif self.path == "/v1/logs":
                reply = self._logs(body)
            else:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("content-type", "application/x-protobuf")
            self.send_header("content-length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def _traces(self, body: bytes) -> bytes:
            request = ExportTraceServiceRequest.FromString(body)
            found = [
                ExportedSpan(
                    name=span.name,
                    trace_id=span.trace_id.hex(),
                    span_id=span.span_id.hex(),
                    parent_id=span.parent_span_id.hex(),
                    kind=span.kind,
                    attributes=_attributes(span.attributes),
                    status_code=span.status.code,
                )
                for resource in request.resource_spans
                for scope in resource.scope_spans
                for span in scope.spans
            ]
            with collector.lock:
                collector.spans.extend(found)
            return bytes(ExportTraceServiceResponse().SerializeToString())

        def _logs(self, body: bytes) -> bytes:
            request = ExportLogsServiceRequest.FromString(body)
            found = [
                ExportedLog(
                    body=str(_value(record.body)),
                    trace_id=record.trace_id.hex(),
                    span_id=record.span_id.hex(),
                    attributes=_attributes(record.attributes),
                )
                for resource in request.resource_logs
                for scope in resource.scope_logs
                for record in scope.log_records
            ]
            with collector.lock:
                collector.logs.extend(found)
            return bytes(ExportLogsServiceResponse().SerializeToString())

        def log_message(self, format: str, *args: Any) -> None:
            pass  # quiet: the test reads the data, not the access log

    return Handler


@contextmanager
def running_collector() -> Iterator[Collector]:
    """A collector on a free loopback port for the duration of the block."""
    collector = Collector()
    with serving(_handler(collector)) as url:
        collector.url = url
        yield collector
