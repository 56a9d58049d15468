"""events.tracing without Kafka: the header carrier, a traceparent given by hand, the switch."""

from __future__ import annotations

import pytest
from opentelemetry import trace

from events import tracing
from tests.tracing.support import new_trace


@pytest.fixture
def propagation():
    """Leaves the process's switch as it found it."""
    before = tracing.propagating()
    yield
    tracing.switch(before)


def test_a_context_goes_into_headers_and_comes_back(propagation):
    trace_id, span_id, traceparent = new_trace()
    context = tracing.context_of(traceparent, tracestate="vendor=1")
    headers = tracing.inject([("type", b"FleetCreated")], context)
    assert headers == [
        ("type", b"FleetCreated"),
        ("traceparent", traceparent.encode()),
        ("tracestate", b"vendor=1"),
    ]
    back = trace.get_current_span(tracing.extract(headers)).get_span_context()
    assert (f"{back.trace_id:032x}", f"{back.span_id:016x}") == (trace_id, span_id)
    # With no tracer provider set, a span of the hop is the remote parent itself: forwarded as is.
    span = tracing.TRACER.start_span("hop", context=tracing.extract(headers))
    assert tracing.span_headers(span)[0] == ("traceparent", traceparent.encode())


def test_headers_without_a_traceparent_carry_no_context(propagation):
    assert tracing.extract([("type", b"FleetCreated")]) is None
    assert tracing.extract(None) is None
    assert tracing.forwarded(None, None) == []


def test_a_traceparent_given_by_hand_must_be_one():
    for wrong in ("", "00-abc-def-01", "00-" + "0" * 32 + "-" + "1" * 16 + "-01"):
        with pytest.raises(ValueError, match="not a W3C traceparent"):
            tracing.context_of(wrong)


def test_switched_off_nothing_is_read_or_written(propagation):
    _, _, traceparent = new_trace()
    headers = [("traceparent", traceparent.encode())]
    tracing.switch(False)
    assert tracing.extract(headers) is None
    assert tracing.inject([], tracing.context_of(traceparent)) == []


def test_nothing_is_exported_unless_an_endpoint_is_configured(propagation):
    assert not tracing.exporter_configured({})
    assert not tracing.exporter_configured({"OTEL_EXPORTER_OTLP_ENDPOINT": " "})
    assert tracing.exporter_configured({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"})
    assert tracing.exporter_configured({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c/v1/traces"})
    assert not tracing.exporter_configured(
        {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318", "OTEL_SDK_DISABLED": "true"}
    )
    # Set up without one: no SDK provider, nothing recorded.
    assert tracing.setup("test", environ={}) is False
    assert not tracing.recording()
    assert not tracing.TRACER.start_span("nothing").is_recording()
    assert tracing.setup("test", on=False, environ={}) is False
    assert not tracing.propagating()


def test_a_relayed_context_is_what_extracting_and_injecting_would_write(propagation):
    _, _, traceparent = new_trace()
    headers = [
        ("type", b"FleetCreated"),
        ("traceparent", traceparent.encode()),
        ("tracestate", b"vendor=1"),
        ("other", b"x"),
    ]
    assert tracing.relay(headers) == tracing.forwarded(None, tracing.extract(headers))
    assert tracing.relay(headers) == [headers[1], headers[2]]
    for wrong in (
        b"00-" + b"0" * 32 + b"-" + b"1" * 16 + b"-01",  # no trace id
        b"00-" + b"1" * 32 + b"-" + b"0" * 16 + b"-01",  # no parent
        b"ff-" + b"1" * 32 + b"-" + b"1" * 16 + b"-01",  # a version that is none
        b"00-" + b"1" * 32 + b"-" + b"1" * 16 + b"-01-more",  # more than version 00 has
        b"00-" + b"A" * 32 + b"-" + b"1" * 16 + b"-01",  # not lower-case hex
    ):
        assert tracing.relay([("traceparent", wrong)]) == []
        assert tracing.forwarded(None, tracing.extract([("traceparent", wrong)])) == []
    assert tracing.relay([("type", b"FleetCreated")]) == []
    tracing.switch(False)
    assert tracing.relay(headers) == []


def test_without_spans_a_sender_sends_the_context_it_was_given_or_relays(propagation):
    _, _, given = new_trace()
    _, _, relayed = new_trace()
    assert not tracing.spans_possible()  # no tracer provider in this process
    assert tracing.outgoing(tracing.Parent(given, "vendor=1")) == [
        ("traceparent", given.encode()),
        ("tracestate", b"vendor=1"),
    ]
    assert tracing.outgoing(None) == []
    token = tracing.relaying([("traceparent", relayed.encode())])
    try:
        assert tracing.outgoing(None) == [("traceparent", relayed.encode())]
        assert tracing.outgoing(tracing.Parent(given))[0] == ("traceparent", given.encode())
    finally:
        tracing.stop_relaying(token)
    assert tracing.outgoing(None) == []
    with pytest.raises(ValueError, match="not a W3C traceparent"):
        tracing.Parent("00-" + "0" * 32 + "-" + "1" * 16 + "-01")
