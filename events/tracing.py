"""Trace context in Kafka headers, and OpenTelemetry spans for the hops of a record.

The W3C trace context (`traceparent`, `tracestate`, and whatever else OTEL_PROPAGATORS names)
travels in a record's headers, never in its value: an event's value is what the audit's hash
chain and replay read, so tracing can never change it.

Only the OpenTelemetry API is imported at module level: events/ is the client library other
services import, and their spans go wherever their own tracer provider sends them. fleetstate's
services call `setup(service)`, which installs the SDK with an OTLP/HTTP exporter only when an
endpoint is configured (OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT).
Without one the API's no-op provider records nothing, and the context a record arrived with is
the context that goes on (a no-op span is the remote parent itself).

FLEETSTATE_TRACING=off switches it all off: no header is read or written, no span started (the
baseline the processor benchmark compares the default with).
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
from collections.abc import Callable, Iterable, Mapping
from contextvars import ContextVar
from functools import cached_property
from typing import Any

from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.propagators.textmap import Getter, Setter
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

log = logging.getLogger(__name__)

Headers = list[tuple[str, bytes]]

TRACEPARENT = "traceparent"
# A proxy: it follows whatever provider the process sets, before or after this import.
TRACER = trace.get_tracer("fleetstate")
ROOT = Context()  # a context with no span: what a record without trace context starts from

_propagating = os.environ.get("FLEETSTATE_TRACING", "on").strip().lower() != "off"
_recording = False  # fleetstate's own SDK provider is installed: spans are exported


def propagating() -> bool:
    """Trace context is read from and written to headers (FLEETSTATE_TRACING is not off)."""
    return _propagating


def recording() -> bool:
    """`setup` installed an exporting provider: the services' hot paths make spans only then."""
    return _recording


def switch(on: bool) -> None:
    """Propagation on or off for this process (FLEETSTATE_TRACING sets it at import)."""
    global _propagating
    _propagating = on


# --- the carrier: Kafka headers, a list of (str, bytes) ------------------------------------


class _HeadersGetter(Getter[Iterable[tuple[str, bytes]]]):
    def get(self, carrier, key: str) -> list[str] | None:
        values = [value.decode("latin-1") for name, value in carrier if name == key and value]
        return values or None

    def keys(self, carrier) -> list[str]:
        return [name for name, _ in carrier]


class _HeadersSetter(Setter[Headers]):
    def set(self, carrier: Headers, key: str, value: str) -> None:
        carrier.append((key, value.encode("latin-1")))


HEADERS_GETTER = _HeadersGetter()
HEADERS_SETTER = _HeadersSetter()


def inject(headers: Headers, context: Context | None = None) -> Headers:
    """Appends the trace context of `context` (default: the current one) to `headers`."""
    if _propagating:
        propagate.inject(headers, context, setter=HEADERS_SETTER)
    return headers


def has_context(headers: Iterable[tuple[str, bytes]] | None) -> bool:
    return bool(headers) and any(name == TRACEPARENT for name, _ in headers)


def extract(headers: Iterable[tuple[str, bytes]] | None) -> Context | None:
    """The trace context `headers` carry; None when they carry none (or propagation is off),
    which costs one look along the headers."""
    if not _propagating or not has_context(headers):
        return None
    return propagate.extract(headers, getter=HEADERS_GETTER)


# The headers the process's propagators read and write (OTEL_PROPAGATORS; by default the W3C
# traceparent, tracestate and baggage).
FIELDS = frozenset(propagate.get_global_textmap().fields)
_TRACEPARENT = re.compile(rb"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}(-.*)?")
_NO_TRACE, _NO_SPAN = b"0" * 32, b"0" * 16


def relay(headers: Iterable[tuple[str, bytes]] | None) -> Headers:
    """The trace headers of a record, to go on as they came on what it caused: what extracting
    and injecting them again would write when no span is made, for a fraction of its cost
    (a processor relays every command's). None without a valid traceparent."""
    if not _propagating or not headers:
        return []
    found: Headers = []
    valid = False
    for name, value in headers:
        if name not in FIELDS:
            continue
        found.append((name, value))
        if name == TRACEPARENT:
            valid = _valid_traceparent(value)
    return found if valid else []


def _valid_traceparent(value: bytes) -> bool:
    """W3C: a traceparent that cannot be parsed is not passed on."""
    match = _TRACEPARENT.fullmatch(value)
    return not (
        match is None
        or match[1] == b"ff"
        or match[2] == _NO_TRACE
        or match[3] == _NO_SPAN
        or (match[1] == b"00" and match[4] is not None)  # version 00 ends with its flags
    )


def context_of(traceparent: str, tracestate: str | None = None) -> Context:
    """The context of a W3C `traceparent` given by hand (a sender without OpenTelemetry of its
    own); ValueError when it is not one, rather than a trace silently lost."""
    return Parent(traceparent, tracestate).context


class Parent:
    """A trace context given by hand (a W3C `traceparent`): checked at once (ValueError), its
    headers sent as given when no span is made, its OpenTelemetry context made only for one."""

    def __init__(self, traceparent: str, tracestate: str | None = None) -> None:
        self.headers: Headers = [(TRACEPARENT, traceparent.encode("latin-1"))]
        if not _valid_traceparent(self.headers[0][1]):
            raise ValueError(f"not a W3C traceparent: {traceparent!r}")
        if tracestate:
            self.headers.append(("tracestate", tracestate.encode("latin-1")))

    @cached_property
    def context(self) -> Context:
        return propagate.extract(self.headers, getter=HEADERS_GETTER)


# The trace headers of the request (or record) this task works for, kept as they came when
# no span is made for it: what the client sends on, without building a context to do so.
_relayed: ContextVar[Headers | None] = ContextVar("fleetstate_relayed_trace", default=None)


def relaying(headers: Headers):
    """Makes `headers` the current task's trace headers; reset with `_relayed.reset(token)`."""
    return _relayed.set(headers)


def stop_relaying(token) -> None:
    _relayed.reset(token)


def outgoing(parent: Parent | None) -> Headers:
    """The trace headers of what is sent now without a span: the given parent's, else the
    relayed ones, else whatever the current OpenTelemetry context holds."""
    if parent is not None:
        return parent.headers
    return _relayed.get() or inject([])


def spans_possible() -> bool:
    """A tracer provider that can make spans is installed in this process (fleetstate's own, or
    the importing service's): without one, spans are skipped, not made as no-ops."""
    provider = trace.get_tracer_provider()
    return not isinstance(provider, trace.ProxyTracerProvider | trace.NoOpTracerProvider)


# --- spans ---------------------------------------------------------------------------------

KAFKA = {"messaging.system": "kafka"}


def send_span(
    topic: str,
    key: bytes | None,
    attributes: Callable[[], Mapping[str, Any]] | None = None,
    context: Context | None = None,
) -> Span:
    """A PRODUCER span for publishing one record (OpenTelemetry messaging conventions), a
    child of `context` (default: the current one); `attributes()` is asked only when the
    span records. End it with `end_on_ack`."""
    span = TRACER.start_span(f"send {topic}", context=context, kind=SpanKind.PRODUCER)
    if span.is_recording():
        span.set_attributes(
            {
                **KAFKA,
                "messaging.operation.name": "send",
                "messaging.operation.type": "send",
                "messaging.destination.name": topic,
                **({"messaging.kafka.message.key": key.decode("latin-1")} if key else {}),
                **(attributes() if attributes else {}),
            }
        )
    return span


def end_on_ack(span: Span, ack: asyncio.Future) -> None:
    """Ends `span` when the broker has stored its record (partition and offset noted)."""
    if not span.is_recording():
        return

    def acked(future: asyncio.Future) -> None:
        if future.cancelled():
            span.set_status(Status(StatusCode.ERROR, "cancelled"))
        elif future.exception() is not None:
            span.record_exception(future.exception())
            span.set_status(Status(StatusCode.ERROR, type(future.exception()).__name__))
        else:
            metadata = future.result()
            span.set_attribute("messaging.destination.partition.id", str(metadata.partition))
            span.set_attribute("messaging.kafka.offset", metadata.offset)
        span.end()

    ack.add_done_callback(acked)


def record_attributes(record: Any, group: str | None = None) -> dict[str, Any]:
    """The messaging attributes of a consumed record (aiokafka's ConsumerRecord)."""
    attributes = {
        **KAFKA,
        "messaging.operation.name": "process",
        "messaging.operation.type": "process",
        "messaging.destination.name": record.topic,
        "messaging.destination.partition.id": str(record.partition),
        "messaging.kafka.offset": record.offset,
    }
    if group:
        attributes["messaging.consumer.group.name"] = group
    return attributes


def process_span(
    record: Any,
    context: Context | None,
    attributes: Mapping[str, Any] | None = None,
    *,
    group: str | None = None,
    start_time: int | None = None,
) -> Span:
    """A CONSUMER span for the work one record caused, a child of the context its headers
    carried (`context`; None: a trace of its own, never the current task's)."""
    span = TRACER.start_span(
        f"process {record.topic}",
        context=ROOT if context is None else context,
        kind=SpanKind.CONSUMER,
        start_time=start_time,
    )
    if span.is_recording():
        span.set_attributes({**record_attributes(record, group), **(attributes or {})})
    return span


def batch_spans(
    records: Iterable[Any],
    attributes: Mapping[str, Any] | None = None,
    *,
    group: str | None = None,
    start_time: int | None = None,
) -> dict[bytes, Span]:
    """For a batch worked on at once: a CONSUMER span per trace context its records carry (a
    command's events share one), each a child of that context, starting at `start_time`
    (the batch's arrival, time.time_ns()), by traceparent; records without trace context get
    none. The caller ends them when the batch's work is done."""
    by_context: dict[bytes, list[Any]] = {}
    for record in records:
        for name, value in record.headers or ():
            if name == TRACEPARENT:
                by_context.setdefault(value, []).append(record)
                break
    spans = {}
    for traceparent, same in by_context.items():
        first = same[0]
        more = {"messaging.batch.message_count": len(same)} if len(same) > 1 else {}
        spans[traceparent] = process_span(
            first,
            extract(first.headers),
            {**(attributes or {}), **more},
            group=group,
            start_time=start_time,
        )
    return spans


def caused_by(record: Any, spans: Mapping[bytes, Span]) -> Headers:
    """The trace headers of what `record` caused in a batch: its span's context (batch_spans)
    when it has one, else its own trace headers relayed."""
    if spans:
        for name, value in record.headers or ():
            if name == TRACEPARENT and value in spans:
                return span_headers(spans[value])
    return relay(record.headers)


def end_all(spans: Iterable[Span]) -> None:
    for span in spans:
        span.end()


def span_headers(span: Span, context: Context | None = None) -> Headers:
    """Trace headers naming `span` as the parent (with `context`'s baggage, if any)."""
    return inject([], trace.set_span_in_context(span, context))


def forwarded(span: Span | None, context: Context | None) -> Headers:
    """The trace headers for what a record caused: the context of its span when there is one,
    else the record's own (propagation without an exporter), else none."""
    if span is not None:
        return span_headers(span, context)
    if context is not None:
        return inject([], context)
    return []


# --- setup of a fleetstate service ---------------------------------------------------------


def exporter_configured(environ: Mapping[str, str]) -> bool:
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    return any(
        environ.get(var, "").strip()
        for var in ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")
    )


def setup(service: str, on: bool = True, environ: Mapping[str, str] | None = None) -> bool:
    """Tracing for fleetstate service `service`: propagation `on` (FLEETSTATE_TRACING), and
    the SDK (TracerProvider, BatchSpanProcessor, OTLP/HTTP exporter, all read the standard
    OTEL_* variables) only when an OTLP endpoint is configured. Returns whether spans are
    exported. The service name defaults to `fleetstate-<service>` (OTEL_SERVICE_NAME)."""
    global _recording
    environ = os.environ if environ is None else environ
    switch(on)
    if not on or not exporter_configured(environ):
        return False
    # Imported here: a process that exports nothing never loads the SDK.
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    resource = Resource.create()  # OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES
    if str(resource.attributes.get(SERVICE_NAME, "")).startswith("unknown_service"):
        resource = resource.merge(Resource({SERVICE_NAME: f"fleetstate-{service}"}))
    provider = TracerProvider(resource=resource)  # flushes its spans at exit
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    _recording = True
    log.info("tracing: %s exports spans over OTLP/HTTP", resource.attributes[SERVICE_NAME])
    return True
