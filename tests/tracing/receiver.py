"""A real OTLP/HTTP receiver in the test process: what the services' exporters send it.

It accepts `POST /v1/traces` (OTLP/HTTP protobuf, gzip or not), decodes each
ExportTraceServiceRequest with the opentelemetry-proto classes the exporter ships with, and
keeps every span with the service that sent it. Every request it sees is noted, whatever its
path: pointed at as a process's HTTP proxy, it also sees an export aimed anywhere else.
"""

from __future__ import annotations

import asyncio
import gzip
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import msgspec
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.trace.v1.trace_pb2 import Span

KINDS = {
    Span.SPAN_KIND_INTERNAL: "internal",
    Span.SPAN_KIND_SERVER: "server",
    Span.SPAN_KIND_CLIENT: "client",
    Span.SPAN_KIND_PRODUCER: "producer",
    Span.SPAN_KIND_CONSUMER: "consumer",
}


class ReceivedSpan(msgspec.Struct, frozen=True):
    service: str
    name: str
    kind: str
    trace_id: str  # hex, as in a traceparent
    span_id: str
    parent_id: str  # "" for a root span
    attributes: dict
    links: list[tuple[str, str]]  # (trace_id, span_id)
    start_ns: int = 0  # Unix time, as the span's process clock read it
    end_ns: int = 0


def _value(any_value):
    kind = any_value.WhichOneof("value")
    return getattr(any_value, kind) if kind else None


def decode(body: bytes) -> list[ReceivedSpan]:
    request = ExportTraceServiceRequest()
    request.ParseFromString(body)
    spans = []
    for resource_spans in request.resource_spans:
        resource = {a.key: _value(a.value) for a in resource_spans.resource.attributes}
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                spans.append(
                    ReceivedSpan(
                        service=str(resource.get("service.name", "")),
                        name=span.name,
                        kind=KINDS.get(span.kind, "unspecified"),
                        trace_id=span.trace_id.hex(),
                        span_id=span.span_id.hex(),
                        parent_id=span.parent_span_id.hex(),
                        attributes={a.key: _value(a.value) for a in span.attributes},
                        links=[(link.trace_id.hex(), link.span_id.hex()) for link in span.links],
                        start_ns=span.start_time_unix_nano,
                        end_ns=span.end_time_unix_nano,
                    )
                )
    return spans


class OtlpReceiver:
    def __init__(self) -> None:
        self.spans: list[ReceivedSpan] = []
        self.requests: list[str] = []  # "METHOD target" of every request, exports or not
        self._lock = threading.Lock()
        self._listeners: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def _note(self) -> bytes:
                with receiver._lock:
                    receiver.requests.append(f"{self.command} {self.path}")
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                return body

            def do_POST(self) -> None:
                body = self._note()
                if self.path.endswith("/v1/traces"):
                    spans = decode(body)
                    with receiver._lock:
                        receiver.spans.extend(spans)
                    for loop, arrived in list(receiver._listeners):
                        loop.call_soon_threadsafe(arrived.set)
                answer = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def _refuse(self) -> None:
                self._note()
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_GET = do_PUT = do_CONNECT = _refuse

            def log_message(self, *args) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> OtlpReceiver:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    async def wait_until(
        self, done: Callable[[list[ReceivedSpan]], bool], timeout: float = 30
    ) -> list[ReceivedSpan]:
        """Every span received, once `done(spans)` says what is wanted has come (the exporters
        send in batches, each within OTEL_BSP_SCHEDULE_DELAY of a span's end)."""
        loop, arrived = asyncio.get_running_loop(), asyncio.Event()
        self._listeners.append((loop, arrived))
        try:
            async with asyncio.timeout(timeout):
                while True:
                    arrived.clear()
                    with self._lock:
                        spans = list(self.spans)
                    if done(spans):
                        return spans
                    await arrived.wait()
        finally:
            self._listeners.remove((loop, arrived))

    async def wait_for(
        self, trace_id: str, done: Callable[[list[ReceivedSpan]], bool], timeout: float = 30
    ) -> list[ReceivedSpan]:
        """The spans of `trace_id`, once `done(them)` says they are all there."""
        spans = await self.wait_until(
            lambda every: done([s for s in every if s.trace_id == trace_id]), timeout
        )
        return [s for s in spans if s.trace_id == trace_id]
