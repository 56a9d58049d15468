"""With no exporter configured (the default): the trace context still travels in the headers,
and no service tries to send a span anywhere."""

from __future__ import annotations

import asyncio
import sys

from events.codec import decode_event
from events.usage_client import UsageReporter
from tests.conftest import command_client
from tests.tracing.conftest import proxied_environment
from tests.tracing.support import (
    create_fleet,
    new_trace,
    records_for,
    records_of,
    traceparent_of,
)
from tests.usage.pipeline import data_events, now, provision, wait_for
from tests.usage.support import report

# An exporter that is configured: the control that shows this test would see one.
EXPORTING = """
from events import tracing
assert tracing.setup("control")
tracing.TRACER.start_span("control").end()
"""


async def test_without_an_exporter_headers_propagate_and_nothing_is_exported(untraced):
    s = untraced.settings
    trace_id, _, traceparent = new_trace()
    _, profile, fleet_sid = await create_fleet(untraced, traceparent)

    # No span anywhere: the caller's context is what every record carries, as it came.
    [command] = [
        r
        for r in await records_of(s.kafka_bootstrap, s.commands_topic)
        if traceparent_of(r) is not None
    ]
    assert traceparent_of(command) == traceparent
    events, outcomes = await records_for(s, fleet_sid)
    assert events and len(outcomes) == 1
    for record in [*events, *outcomes]:
        assert traceparent_of(record) == traceparent
    # The profile's request had no trace context: its records have none either.
    profile_events, _ = await records_for(s, profile["sid"])
    assert profile_events and all(traceparent_of(r) is None for r in profile_events)

    # A usage report's context goes on to the data-limit command it causes, and its events.
    async with command_client(s) as client:
        world = await provision(client, "untraced", ["active"], data_limit=1)
    [sim] = world.sims
    _, _, reported = new_trace()
    crossing = report(world.account, sim, 600_000, 600_000, end=now(), network_sid=world.network)
    async with UsageReporter(s.kafka_bootstrap, usage_topic=s.usage_topic) as reporter:
        await reporter.report(crossing, traceparent=reported)
    await wait_for(s, lambda events: data_events(events, sim, "SimDataSuspended"))
    [suspended] = [
        r
        for r in await records_of(s.kafka_bootstrap, s.events_topic)
        if decode_event(r.value).type == "SimDataSuspended"
    ]
    assert traceparent_of(suspended) == reported

    # Stopped, every service has flushed whatever it had: had any exporter been made, its
    # request would have reached the receiver, their proxy for every HTTP request.
    untraced.stop_services()
    assert untraced.receiver.requests == []
    assert untraced.receiver.spans == []

    # The control: a process that does export, in the same environment, is seen.
    environment = proxied_environment(untraced.receiver)
    environment["OTEL_EXPORTER_OTLP_ENDPOINT"] = "http://localhost:4318"  # the SDK's default
    control = await asyncio.create_subprocess_exec(sys.executable, "-c", EXPORTING, env=environment)
    assert await asyncio.wait_for(control.wait(), 60) == 0
    assert [r for r in untraced.receiver.requests if r.endswith("/v1/traces")]
    assert [span.name for span in untraced.receiver.spans] == ["control"]
