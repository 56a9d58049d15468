"""The projector turns the log into read models exactly once, whatever kills it."""

from __future__ import annotations

import asyncio
import random

import asyncpg
import msgspec
import pytest
from aiokafka import AIOKafkaProducer

from bench.workload import Workload
from events.codec import encode_event
from events.commands import CreateAccount, CreateFleet, CreateNetworkAccessProfile, UpdateFleet
from events.kafka_security import kafka_options
from events.sids import derive_sid
from services.projection.projector import Projector
from services.projection.waiter import ProjectionWaiter
from tests.domain.support import World
from tests.projection.support import live_and_rebuilt, wait_until_projected
from tests.services import ServiceProcess

ACCOUNT = derive_sid("AC", "projector-tests")


@pytest.fixture
def projected(topics, migrated):
    return msgspec.structs.replace(topics, database_url=migrated)


async def test_a_fleet_created_through_the_processor_is_in_the_read_model_when_the_waiter_says_so(
    projected, client, processor
):
    stop = asyncio.Event()
    task = asyncio.create_task(Projector(projected).run(stop))
    waiter = ProjectionWaiter(projected.database_url, projected.events_topic)
    await waiter.start()
    try:
        created = CreateAccount(friendly_name="projected", auth_token_hash="0" * 64)
        await client.execute(created, account_sid=ACCOUNT, timeout=60)
        await client.execute(CreateNetworkAccessProfile(unique_name="nap"), account_sid=ACCOUNT)
        outcome = await client.execute(
            CreateFleet(network_access_profile="nap", unique_name="f", data_limit=5),
            account_sid=ACCOUNT,
            timeout=30,
        )
        [ref] = outcome.events
        assert await waiter.wait_for({ref.partition: ref.offset}, timeout=30)
        conn = await asyncpg.connect(projected.database_url)
        try:
            fleet = await conn.fetchrow("select * from fleets where sid = $1", ref.aggregate_id)
        finally:
            await conn.close()
        assert fleet["unique_name"] == "f" and fleet["data_limit"] == 5
        assert fleet["account_sid"] == ACCOUNT and fleet["version"] == 1

        outcome = await client.execute(UpdateFleet(fleet="f", data_limit=9), account_sid=ACCOUNT)
        [ref] = outcome.events
        assert await waiter.wait_for({ref.partition: ref.offset}, timeout=30)
        conn = await asyncpg.connect(projected.database_url)
        try:
            row = await conn.fetchrow(
                "select data_limit, version from fleets where sid = $1", ref.aggregate_id
            )
        finally:
            await conn.close()
        assert tuple(row) == (9, 2)
    finally:
        stop.set()
        await task
        await waiter.stop()


async def test_a_waiter_gives_up_after_its_timeout_when_nothing_is_projected(projected):
    waiter = ProjectionWaiter(projected.database_url, projected.events_topic)
    await waiter.start()
    try:
        assert await waiter.wait_for({0: 10**9}, timeout=0.5) is False
    finally:
        await waiter.stop()


@pytest.mark.timeout(600)
async def test_a_projector_killed_mid_stream_ends_equal_to_a_fresh_one_from_offset_0(
    projected, client, processor, tmp_path
):
    rng = random.Random(7)
    workload = Workload(seed=77, accounts=30, sims_per_account=3)
    await client.execute_many(workload.operator_commands(), timeout=120)
    await client.execute_many(workload.setup_commands(), timeout=120)
    victim = ServiceProcess("projector", projected, log_path=tmp_path / "projector.log")
    victim.start()
    steady = workload.steady_commands(4000)
    sending = asyncio.create_task(_send_paced(client, steady))
    while not sending.done() or victim.kills < 3:
        await asyncio.sleep(rng.uniform(0.8, 2.0))  # long enough to apply some batches
        victim.kill()
        victim.start()
    await sending
    try:
        await wait_until_projected(projected, projected.database_url)
    finally:
        victim.stop()
    assert victim.kills >= 3

    live, rebuilt = await live_and_rebuilt(projected)
    assert len(live["sims"]) == 30 * 3 and len(live["fleets"]) > 60
    assert live == rebuilt


async def _send_paced(client, envelopes, chunk: int = 100) -> None:
    pending = []
    for start in range(0, len(envelopes), chunk):
        pending.append(
            asyncio.create_task(client.execute_many(envelopes[start : start + chunk], timeout=300))
        )
        await asyncio.sleep(0.1)
    await asyncio.gather(*pending)


async def test_an_event_postgres_refuses_is_set_aside_and_the_events_after_it_are_projected(
    projected,
):
    # The decider refuses NUL in names; an event written past it (by an older or foreign
    # writer) must not stop the projection for good.
    world = World()
    events = [e for e in world.log if e.type == "FleetCreated"]
    good = world.run(CreateFleet(network_access_profile="nap", unique_name="after"))[0]
    poison = msgspec.structs.replace(
        events[0],
        event_id="EV" + "0" * 32,
        aggregate_id="HF" + "0" * 32,
        payload=msgspec.structs.replace(events[0].payload, unique_name="bad\x00name"),
    )
    producer = AIOKafkaProducer(**kafka_options(projected.kafka_bootstrap))
    await producer.start()
    try:
        for event in (poison, good):
            await producer.send_and_wait(
                projected.events_topic,
                encode_event(event),
                key=event.account_sid.encode(),
                partition=0,
            )
    finally:
        await producer.stop()
    stop = asyncio.Event()
    task = asyncio.create_task(Projector(projected).run(stop))
    try:
        await wait_until_projected(projected, projected.database_url)
    finally:
        stop.set()
        await task
    conn = await asyncpg.connect(projected.database_url)
    try:
        skipped = await conn.fetch('select "offset", reason from projection_skipped')
        fleets = await conn.fetch("select sid from fleets")
    finally:
        await conn.close()
    assert [r["offset"] for r in skipped] == [0] and "PostgreSQL" in skipped[0]["reason"]
    assert [r["sid"] for r in fleets] == [good.aggregate_id]
