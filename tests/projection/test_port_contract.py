"""The projection port's contract, run against every projection on it (in the manner of one
persistence test suite per recorder): the events' read models and the usage read models, on
the real broker and database. What the port promises: every record projected exactly once,
whatever stops, restarts or runs twice; a record that does not decode set aside with its
reason, the records after it projected. Replay into a fresh schema is held to the same
promises: rows once, undecodable records set aside, and a projector takes over from where it
read."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime
from typing import NamedTuple

import asyncpg
import msgspec
import pytest
from aiokafka import AIOKafkaProducer

from events.codec import encode_event
from events.commands import CreateFleet, UpdateSim
from events.kafka_security import kafka_options
from events.usage import UsageBucket, UsageFacts, encode_facts
from services.audit.replay import replay
from services.migrate import migrate
from services.postgres import drop_database
from services.projection.projector import Projector
from services.projection.runner import ProjectionRunner
from services.topics import ensure_topics
from services.usage.projector import UsageProjector
from tests.domain.support import World

HOUR = 3600


class Adapter(NamedTuple):
    topic: str  # Settings field of the log it projects
    runner: type[ProjectionRunner]
    records: object  # () -> the log's records, encoded
    effect: str  # SQL: one number the records' rows add up to


def _events() -> list[bytes]:
    world = World()
    for n in range(5):
        world.run(CreateFleet(network_access_profile="nap", unique_name=f"f{n}", data_limit=n + 1))
    world.run(UpdateSim(sim=world.sim, fleet="f1", unique_name="tracker"))
    return [encode_event(e) for e in world.log]


def _usage() -> list[bytes]:
    start = int(datetime(2026, 11, 1, tzinfo=UTC).timestamp())
    end = int(datetime(2026, 12, 1, tzinfo=UTC).timestamp())
    return [
        encode_facts(
            UsageFacts(
                current_period=start,
                buckets=[
                    UsageBucket(
                        account_sid="AC" + "a" * 32,
                        sim_sid="HS" + f"{n % 3:032x}",
                        fleet_sid=None,
                        network_sid="HW" + "1" * 32,
                        period_start=start,
                        period_end=end,
                        hour=start + n * HOUR,
                        bytes_up=n + 1,
                        bytes_down=1000 * (n + 1),
                        sessions=[f"s-{n}"],
                    )
                ],
            )
        )
        for n in range(12)
    ]


ADAPTERS = {
    "events": Adapter(
        "events_topic",
        Projector,
        _events,
        # Rows are upserts by version: the tracking rows alone keep a batch from counting twice
        # in the history; the sum shows any row written from a wrong version.
        "select (select count(*) from event_history)"
        " + (select coalesce(sum(version), 0) from fleets)",
    ),
    "usage": Adapter(
        "usage_log_topic",
        UsageProjector,
        _usage,
        "select coalesce(sum(data_upload + data_download), 0) from usage_hourly",
    ),
}


@pytest.fixture(params=sorted(ADAPTERS))
def adapter(request) -> Adapter:
    return ADAPTERS[request.param]


@pytest.fixture
def settings_db(topics, migrated):
    return msgspec.structs.replace(topics, database_url=migrated)


async def _produce(settings, topic: str, values: list[bytes]) -> None:
    producer = AIOKafkaProducer(**kafka_options(settings.kafka_bootstrap))
    await producer.start()
    try:
        for value in values:
            await producer.send_and_wait(topic, value, partition=0)
    finally:
        await producer.stop()


@contextlib.asynccontextmanager
async def _running(runner: ProjectionRunner):
    stop = asyncio.Event()
    task = asyncio.create_task(runner.run(stop))
    try:
        yield runner
    finally:
        stop.set()
        await task


async def _connect(dsn: str, schema: str = "public") -> asyncpg.Connection:
    return await asyncpg.connect(dsn, server_settings={"search_path": schema})


async def _until_tracked(
    dsn: str, runner: ProjectionRunner, offset: int, schema: str = "public"
) -> None:
    conn = await _connect(dsn, schema)
    sql = (
        "select next_offset from projection_offsets where projection = $1 and topic = $2 "
        "and partition = 0"
    )
    try:
        async with asyncio.timeout(60):
            while await conn.fetchval(sql, runner.name, runner.topic) != offset:  # noqa: ASYNC110
                await asyncio.sleep(0.05)
    finally:
        await conn.close()


async def _effect(dsn: str, sql: str, schema: str = "public") -> int:
    conn = await _connect(dsn, schema)
    try:
        return await conn.fetchval(sql)
    finally:
        await conn.close()


async def _expected_effect(settings, adapter: Adapter, values: list[bytes]) -> int:
    """What one runner from offset 0 makes of `values` alone, in a database of its own."""
    other = await _other_database(settings)
    try:
        return await _effect_of(other, adapter, values)
    finally:
        await _drop(other)


async def _effect_of(settings, adapter: Adapter, values: list[bytes]) -> int:
    fresh = msgspec.structs.replace(settings, **{adapter.topic: f"{settings.commands_topic}.x"})
    await ensure_topics(fresh)
    await _produce(fresh, getattr(fresh, adapter.topic), values)
    runner = adapter.runner(fresh)
    async with _running(runner):
        await _until_tracked(fresh.database_url, runner, len(values))
    return await _effect(fresh.database_url, adapter.effect)


async def test_every_record_is_projected_once_across_restarts_and_a_second_runner(
    settings_db, adapter
):
    values = adapter.records()
    topic = getattr(settings_db, adapter.topic)
    half = len(values) // 2
    await _produce(settings_db, topic, values[:half])
    first = adapter.runner(settings_db)
    async with _running(first):
        await _until_tracked(settings_db.database_url, first, half)
    # Restarted, and a second runner by mistake beside it, while the rest arrives.
    async with (
        _running(adapter.runner(settings_db)) as again,
        _running(adapter.runner(settings_db)),
    ):
        await _produce(settings_db, topic, values[half:])
        await _until_tracked(settings_db.database_url, again, len(values))
    effect = await _effect(settings_db.database_url, adapter.effect)
    assert effect > 0
    # The same records projected once by one runner: the same effect, in another database.
    assert effect == await _expected_effect(settings_db, adapter, values)


async def test_a_record_that_does_not_decode_is_set_aside_and_the_rest_projected(
    settings_db, adapter
):
    values = adapter.records()
    await _produce(
        settings_db, getattr(settings_db, adapter.topic), [*values[:2], b"\x00not", *values[2:]]
    )
    runner = adapter.runner(settings_db)
    async with _running(runner):
        await _until_tracked(settings_db.database_url, runner, len(values) + 1)
    conn = await asyncpg.connect(settings_db.database_url)
    try:
        skipped = await conn.fetch(
            'select "offset", reason from projection_skipped where projection = $1', runner.name
        )
    finally:
        await conn.close()
    assert [row["offset"] for row in skipped] == [2]
    assert skipped[0]["reason"]
    expected = await _expected_effect(settings_db, adapter, values)
    assert await _effect(settings_db.database_url, adapter.effect) == expected


# --- replay into a fresh schema: the port's promises for a rebuild from the whole log ---------


async def test_replay_projects_every_record_once_and_a_projector_carries_on_from_it(
    settings_db,
):
    adapter = ADAPTERS["events"]
    values = adapter.records()
    half = len(values) // 2
    await _produce(settings_db, settings_db.events_topic, values[:half])
    await replay(settings_db, "replayed")
    # Run twice (into the same schema, replaced): the same rows, nothing counted twice.
    await replay(settings_db, "replayed", replace=True)
    await _produce(settings_db, settings_db.events_topic, values[half:])
    runner = Projector(settings_db, schema="replayed")
    async with _running(runner):
        await _until_tracked(settings_db.database_url, runner, len(values), "replayed")
    assert runner.applied == len(values) - half  # from where the replay read up to, not 0
    effect = await _effect(settings_db.database_url, adapter.effect, "replayed")
    assert effect == await _expected_effect(settings_db, adapter, values)


async def test_replay_sets_a_record_that_does_not_decode_aside_and_projects_the_rest(
    settings_db,
):
    adapter = ADAPTERS["events"]
    values = adapter.records()
    await _produce(settings_db, settings_db.events_topic, [*values[:2], b"\x00not", *values[2:]])
    report = await replay(settings_db, "replayed")
    assert [(partition, offset) for partition, offset, _ in report.skipped] == [(0, 2)]
    conn = await _connect(settings_db.database_url, "replayed")
    try:
        skipped = await conn.fetch('select "offset", reason from projection_skipped')
    finally:
        await conn.close()
    assert [row["offset"] for row in skipped] == [2] and skipped[0]["reason"]
    expected = await _expected_effect(settings_db, adapter, values)
    assert await _effect(settings_db.database_url, adapter.effect, "replayed") == expected


async def _other_database(settings):
    name = settings.database_url.rsplit("/", 1)[1] + "_other"
    admin = await asyncpg.connect(settings.database_url)
    try:
        await admin.execute(f'create database "{name}"')
    finally:
        await admin.close()
    dsn = settings.database_url.rsplit("/", 1)[0] + "/" + name
    await migrate(dsn)
    return msgspec.structs.replace(settings, database_url=dsn)


async def _drop(settings) -> None:
    name = settings.database_url.rsplit("/", 1)[1]
    base = settings.database_url.rsplit("/", 1)[0] + "/" + name.removesuffix("_other")
    admin = await asyncpg.connect(base)
    try:
        await drop_database(admin, name)
    finally:
        await admin.close()
