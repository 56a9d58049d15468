"""A write's trace across the four processes it touches, exported over OTLP/HTTP.

The services run as child processes exporting to a real OTLP receiver in the test process; the
trace context travels in the Kafka headers of the command, the events and the outcome.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from events.codec import decode_event
from events.commands import CreateNetworkAccessProfile
from events.usage import DataSessionReport
from events.usage_client import UsageReporter
from tests.api.test_twilio_sdk import sdk
from tests.conftest import command_client
from tests.tracing.support import (
    create_fleet,
    named,
    new_trace,
    one,
    records_for,
    records_of,
    traceparent_of,
)
from tests.usage.pipeline import now, provision
from tests.usage.support import report

API, PROCESSOR = "fleetstate-api", "fleetstate-processor"
PROJECTOR, USAGE = "fleetstate-projector", "fleetstate-usage-processor"


def _has(*wanted: tuple[str, str]):
    return lambda spans: all(named(spans, *w) for w in wanted)


async def test_a_requests_traceparent_is_followed_through_every_hop(traced):
    s = traced.settings
    trace_id, caller, traceparent = new_trace()
    account, _, fleet_sid = await create_fleet(traced, traceparent)

    send, decide = f"send {s.commands_topic}", f"process {s.commands_topic}"
    project = f"process {s.events_topic}"
    spans = await traced.receiver.wait_for(
        trace_id,
        _has(
            (API, "POST /v1/Fleets"),
            (API, send),
            (API, "await outcome"),
            (API, "await projection"),
            (PROCESSOR, decide),
            (PROJECTOR, project),
        ),
    )
    # Parented in the order the write went: the caller -> api -> publish -> decide -> project.
    server = one(spans, API, "POST /v1/Fleets")
    assert (server.kind, server.parent_id) == ("server", caller)
    assert server.attributes["http.response.status_code"] == 201
    assert server.attributes["http.route"] == "/v1/Fleets"
    published = one(spans, API, send)
    assert (published.kind, published.parent_id) == ("producer", server.span_id)
    assert published.attributes["messaging.system"] == "kafka"
    assert published.attributes["messaging.destination.name"] == s.commands_topic
    assert published.attributes["fleetstate.command.type"] == "CreateFleet"
    assert published.attributes["fleetstate.account_sid"] == account.sid
    decided = one(spans, PROCESSOR, decide)
    assert (decided.kind, decided.parent_id) == ("consumer", published.span_id)
    assert decided.attributes["fleetstate.command.type"] == "CreateFleet"
    assert decided.attributes["fleetstate.outcome"] == "accepted"
    assert decided.attributes["messaging.kafka.offset"] >= 0
    projected = one(spans, PROJECTOR, project)
    assert (projected.kind, projected.parent_id) == ("consumer", decided.span_id)
    # The API's waits are hops of their own, beside the publish.
    assert one(spans, API, "await outcome").parent_id == server.span_id
    assert one(spans, API, "await projection").parent_id == server.span_id

    # The batch's transaction is a span of its own, linked to the decision it committed.
    await traced.receiver.wait_until(
        lambda every: any(
            (trace_id, decided.span_id) in span.links
            for span in named(every, PROCESSOR, "commit transaction")
        )
    )

    # The records themselves carry the trace: the events and the outcome, as children of the
    # decision (headers only: the events' values are what the audit hashes).
    events, outcomes = await records_for(s, fleet_sid)
    assert events and len(outcomes) == 1
    for record in [*events, *outcomes]:
        assert traceparent_of(record) == f"00-{trace_id}-{decided.span_id}-01"
    assert [name for name, _ in events[0].headers] == ["type", "traceparent"]


async def test_a_trace_starts_at_the_api_when_the_request_has_none(traced):
    """The official SDK sends no traceparent: the API's span is the root of the write's trace."""
    s = traced.settings
    account = await traced.account()
    v1 = sdk(traced, account).supersim.v1
    profile = await asyncio.to_thread(v1.network_access_profiles.create)
    fleet = await asyncio.to_thread(v1.fleets.create, network_access_profile=profile.sid)
    [event], _ = await records_for(s, fleet.sid)
    trace_id = traceparent_of(event).split("-")[1]
    spans = await traced.receiver.wait_for(
        trace_id,
        _has(
            (API, "POST /v1/Fleets"),
            (PROCESSOR, f"process {s.commands_topic}"),
            (PROJECTOR, f"process {s.events_topic}"),
        ),
    )
    server = one(spans, API, "POST /v1/Fleets")
    assert server.parent_id == ""
    assert {span.trace_id for span in spans} == {trace_id}


async def test_a_command_sent_with_its_own_traceparent_keeps_it(traced):
    """Another service's command, published with CommandClient: its trace goes on."""
    s = traced.settings
    account = await traced.account()
    trace_id, caller, traceparent = new_trace()
    async with command_client(s) as client:
        outcome = await client.execute(
            CreateNetworkAccessProfile(unique_name="traced"),
            account_sid=account.sid,
            traceparent=traceparent,
            timeout=30,
        )
    assert outcome.status == "accepted", outcome
    [profile_sid] = {ref.aggregate_id for ref in outcome.events}

    # No tracer in this process: the command carries the caller's context exactly.
    [command] = [
        r
        for r in await records_of(s.kafka_bootstrap, s.commands_topic)
        if r.key == account.sid.encode()
    ]
    assert traceparent_of(command) == traceparent
    spans = await traced.receiver.wait_for(
        trace_id, _has((PROCESSOR, f"process {s.commands_topic}"))
    )
    decided = one(spans, PROCESSOR, f"process {s.commands_topic}")
    assert decided.parent_id == caller
    assert decided.attributes["fleetstate.command.type"] == "CreateNetworkAccessProfile"
    events, outcomes = await records_for(s, profile_sid)
    for record in [*events, *outcomes]:
        assert traceparent_of(record) == f"00-{trace_id}-{decided.span_id}-01"


async def test_a_usage_report_with_a_traceparent_is_processed_in_its_trace(traced):
    s = traced.settings
    account = await traced.account()
    trace_id, caller, traceparent = new_trace()
    ended = datetime.now(UTC).replace(microsecond=0)
    report = DataSessionReport(
        session_id="traced-session",
        account_sid=account.sid,
        sim="HS" + "0" * 32,  # no such Sim: the report is dead-lettered, in its trace
        network_sid="HW" + "1" * 32,
        bytes_up=10,
        bytes_down=20,
        start_time=ended - timedelta(minutes=5),
        end_time=ended,
    )
    async with UsageReporter(s.kafka_bootstrap, usage_topic=s.usage_topic) as reporter:
        await reporter.report(report, traceparent=traceparent)
    spans = await traced.receiver.wait_for(trace_id, _has((USAGE, f"process {s.usage_topic}")))
    processed = one(spans, USAGE, f"process {s.usage_topic}")
    assert (processed.kind, processed.parent_id) == ("consumer", caller)
    assert processed.attributes["messaging.destination.name"] == s.usage_topic
    assert processed.attributes["messaging.consumer.group.name"].startswith("fleetstate-usage")


async def test_a_data_limit_command_joins_the_trace_of_the_report_that_crossed_it(traced):
    s = traced.settings
    async with command_client(s) as client:
        world = await provision(client, "traced", ["active"], data_limit=1)
    [sim] = world.sims
    trace_id, caller, traceparent = new_trace()
    crossing = report(world.account, sim, 600_000, 600_000, end=now(), network_sid=world.network)
    async with UsageReporter(s.kafka_bootstrap, usage_topic=s.usage_topic) as reporter:
        await reporter.report(crossing, traceparent=traceparent)

    decide, project = f"process {s.internal_topic}", f"process {s.events_topic}"
    spans = await traced.receiver.wait_for(
        trace_id,
        _has((USAGE, f"process {s.usage_topic}"), (PROCESSOR, decide), (PROJECTOR, project)),
    )
    metered = one(spans, USAGE, f"process {s.usage_topic}")
    assert metered.parent_id == caller
    suspended = one(spans, PROCESSOR, decide)
    assert suspended.parent_id == metered.span_id
    assert suspended.attributes["fleetstate.command.type"] == "SuspendSimData"
    assert one(spans, PROJECTOR, project).parent_id == suspended.span_id
    [event] = [
        r
        for r in await records_of(s.kafka_bootstrap, s.events_topic)
        if decode_event(r.value).type == "SimDataSuspended"
        and decode_event(r.value).aggregate_id == sim
    ]
    assert traceparent_of(event) == f"00-{trace_id}-{suspended.span_id}-01"
