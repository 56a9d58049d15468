"""The usage processor on the real Kafka, with the command processor deciding its commands."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

from aiokafka import AIOKafkaProducer

from events.commands import UpdateFleet
from events.kafka_security import kafka_options
from services.log_reader import read_all
from services.runtime.limits import largest_value
from tests.services import ServiceProcess
from tests.usage.pipeline import (
    data_events,
    now,
    provision,
    totals_from_log,
    usage_log,
    wait_for,
    wait_until_answered,
    wait_until_counted,
)
from tests.usage.support import recomputed_totals, report

MB = 1_000_000


def activated(events, sim) -> list:
    return [
        e for e in data_events(events, sim, "SimStatusChanged") if e.payload.reason == "data_usage"
    ]


async def test_crossing_the_limit_raising_it_and_250_kb_each_append_their_event_once(
    topics, client, processor, usage_processor, reporter
):
    world = await provision(client, "thresholds", ["ready", "active"], data_limit=1)
    ready, active = world.sims
    sent = []

    async def send(*reports):
        sent.extend(reports)
        await reporter.report_many(reports)

    # 300 KB make the ready Sim active; 1.5 MB (and a resent duplicate) suspend the other.
    await send(report(world.account, ready, 100_000, 200_000, end=now(), network_sid=world.network))
    first = report(world.account, active, 400_000, 400_000, end=now(), network_sid=world.network)
    await send(first, first)
    await send(report(world.account, active, 0, 700_000, end=now(), network_sid=world.network))
    events = await wait_for(
        topics,
        lambda ev: activated(ev, ready) and data_events(ev, active, "SimDataSuspended"),
    )
    [suspended] = data_events(events, active, "SimDataSuspended")
    assert (suspended.payload.data_used, suspended.payload.data_limit) == (1_500_000, 1)

    await client.execute(UpdateFleet(fleet="fleet", data_limit=5), account_sid=world.account)
    events = await wait_for(topics, lambda ev: data_events(ev, active, "SimDataResumed"))
    assert data_events(events, active, "SimDataResumed")[0].payload.reason == "limit_raised"

    # More usage under the new limit, an old report of last month: nothing more happens.
    await send(report(world.account, active, 0, 1_000_000, end=now(), network_sid=world.network))
    late = now().replace(day=1) - timedelta(days=3)
    await send(report(world.account, active, 9 * MB, 0, end=late, network_sid=world.network))
    await wait_until_counted(topics, len(sent))
    # Every command the usage processor sent for these reports went out with them: once those
    # are decided, anything wrongly sent would be in the log.
    await wait_until_answered(topics)
    events = await wait_for(topics, lambda ev: True)
    assert len(activated(events, ready)) == 1
    assert len(data_events(events, active, "SimDataSuspended")) == 1
    assert len(data_events(events, active, "SimDataResumed")) == 1
    assert totals_from_log(await usage_log(topics)) == recomputed_totals(sent)


async def test_bad_reports_go_to_the_usage_dlq_with_a_reason_and_the_next_report_counts(
    topics, client, processor, usage_processor, reporter
):
    world = await provision(client, "badinput", ["active"], data_limit=10)
    [sim] = world.sims
    limit = await largest_value(topics.kafka_bootstrap, [topics.usage_log_topic])
    producer = AIOKafkaProducer(
        **kafka_options(topics.kafka_bootstrap), max_request_size=4 * 1024 * 1024
    )
    await producer.start()
    try:
        key = world.account.encode()
        await producer.send_and_wait(topics.usage_topic, b"\x00\xffnot json", key=key)
        unknown = report(world.account, "HS" + "0" * 32, 1, end=now(), network_sid=world.network)
        await reporter.report(unknown)
        await producer.send_and_wait(topics.usage_topic, None, key=key)  # a null value
        await producer.send_and_wait(topics.usage_topic, b"x" * (limit + 100), key=key)
    finally:
        await producer.stop()
    good = report(world.account, sim, 10, 20, end=now(), network_sid=world.network)
    await reporter.report(good)
    await wait_until_counted(topics, 5)
    assert totals_from_log(await usage_log(topics)) == recomputed_totals([good])
    dead = [r for rs in (await read_all(topics.kafka_bootstrap, topics.usage_dlq_topic)).values()
            for r in rs]  # fmt: skip
    dead.sort(key=lambda r: int(dict(r.headers)["source.offset"]))  # in the order sent
    reasons = [dict(r.headers)["reason"].decode() for r in dead]
    assert len(dead) == 4
    assert "invalid usage report" in reasons[0]
    assert "no Sim" in reasons[1]
    assert "null value" in reasons[2] and dead[2].value is None
    assert "too large" in reasons[3] and len(dead[3].value) == limit + 100


async def test_a_new_billing_period_by_the_clock_resumes_a_suspended_sim_once(
    topics, client, processor, reporter, tmp_path
):
    period = 10
    usage = ServiceProcess(
        "usage-processor",
        topics,
        log_path=tmp_path / "usage.log",
        env={"FLEETSTATE_BILLING_PERIOD": f"{period}s"},
    )
    usage.start()
    try:
        world = await provision(client, "rollover", ["active"], data_limit=1)
        [sim] = world.sims
        # Send early in a period, so that it is still the current one when counted.
        await asyncio.sleep((period - time.time() % period) % period)
        await reporter.report(
            report(world.account, sim, 2 * MB, end=now(), network_sid=world.network)
        )
        events = await wait_for(
            topics, lambda ev: data_events(ev, sim, "SimDataResumed"), timeout=30
        )
    finally:
        usage.stop()
    [suspended] = data_events(events, sim, "SimDataSuspended")
    [resumed] = data_events(events, sim, "SimDataResumed")
    assert resumed.payload.reason == "new_period"
    assert resumed.payload.period_start == suspended.payload.period_end
