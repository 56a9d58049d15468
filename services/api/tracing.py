"""The API's hop of a trace: a SERVER span per request, the parent of what the request sends.

A plain ASGI middleware (Litestar's OpenTelemetry integration needs the ASGI instrumentation
package and adds spans for every send and receive of a request). The request's W3C trace
context (`traceparent`) is the parent; without one, a trace starts here when spans are
exported. Without an exporter no span is made: the request's trace headers are relayed as
they came, and the command client writes them into the command's headers.
"""

from __future__ import annotations

from litestar.types import ASGIApp, Receive, Scope, Send
from opentelemetry.trace import SpanKind, Status, StatusCode, use_span

from events import tracing

# The trace headers, as ASGI names them (lower case, bytes).
FIELDS = frozenset(field.encode() for field in tracing.FIELDS)


def _carrier(scope: Scope) -> list[tuple[str, bytes]]:
    """The request's trace headers, as a Kafka-style carrier."""
    return [(name.decode("latin-1"), value) for name, value in scope["headers"] if name in FIELDS]


class TracingMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not tracing.propagating():
            await self.app(scope, receive, send)
            return
        carrier = _carrier(scope)
        if not tracing.recording():
            # No span: the request's trace headers are what its command carries, as they came.
            relayed = tracing.relay(carrier)
            if not relayed:
                await self.app(scope, receive, send)
                return
            token = tracing.relaying(relayed)
            try:
                await self.app(scope, receive, send)
            finally:
                tracing.stop_relaying(token)
            return
        await self._traced(tracing.extract(carrier), scope, receive, send)

    async def _traced(self, parent, scope: Scope, receive: Receive, send: Send) -> None:
        method = scope["method"]
        route = scope.get("path_template") or scope["path"]
        span = tracing.TRACER.start_span(
            f"{method} {route}",
            context=tracing.ROOT if parent is None else parent,
            kind=SpanKind.SERVER,
            attributes={
                "http.request.method": method,
                "http.route": route,
                "url.path": scope["path"],
                "url.scheme": scope.get("scheme", "http"),
                "network.protocol.version": scope.get("http_version", "1.1"),
            },
        )

        async def send_and_note(message) -> None:
            if message["type"] == "http.response.start":
                status = message["status"]
                span.set_attribute("http.response.status_code", status)
                if status >= 500:
                    span.set_status(Status(StatusCode.ERROR))
            await send(message)

        with use_span(span, end_on_exit=True):
            await self.app(scope, receive, send_and_note)
