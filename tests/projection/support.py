"""Helpers for projection tests: waiting until a projector has applied the whole log, and what
one projector from offset 0 makes of it."""

from __future__ import annotations

import asyncio

import asyncpg
from aiokafka import TopicPartition

from services.config import Settings
from services.log_reader import log_consumer, partition_ids, read_to_end
from services.migrate import migrate
from services.projection.projector import Projector
from services.projection.snapshot import snapshot


async def log_end(settings: Settings, topic: str | None = None) -> dict[int, int]:
    """The committed end offset of every partition of `topic` (default: the events)."""
    topic = topic or settings.events_topic
    consumer = log_consumer(settings.kafka_bootstrap)
    await consumer.start()
    try:
        partitions = await partition_ids(settings.kafka_bootstrap, topic)
        tps = [TopicPartition(topic, p) for p in partitions]
        consumer.assign(tps)
        ends = await consumer.end_offsets(tps)
        return {tp.partition: offset for tp, offset in ends.items()}
    finally:
        await consumer.stop()


async def wait_until_projected(
    settings: Settings, dsn: str, schema: str = "public", timeout: float = 120
) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        async with asyncio.timeout(timeout):
            while True:
                rows = await conn.fetch(
                    f'select partition, next_offset from "{schema}".projection_offsets '
                    "where topic = $1",
                    settings.events_topic,
                )
                tracked = {r["partition"]: r["next_offset"] for r in rows}
                # Transaction markers take offsets too, so the tracked offset may stay below
                # the end offset for good: caught up means no record left after it.
                if await _nothing_left(settings, tracked):
                    return
                await asyncio.sleep(0.2)
    finally:
        await conn.close()


async def _nothing_left(settings: Settings, tracked: dict[int, int]) -> bool:
    if not tracked:
        return False  # the projector has not even started
    # A partition no runner has been given yet has no tracking row: all of it is left.
    partitions = await partition_ids(settings.kafka_bootstrap, settings.events_topic)
    consumer = log_consumer(settings.kafka_bootstrap)
    await consumer.start()
    try:
        starts = {TopicPartition(settings.events_topic, p): tracked.get(p, 0) for p in partitions}
        left = 0
        async for _, records in read_to_end(consumer, starts):
            left += len(records)
        return left == 0
    finally:
        await consumer.stop()


async def live_and_rebuilt(settings: Settings) -> tuple[dict, dict]:
    """Snapshots of the live read models (schema public) and of one projector's work from
    offset 0 into a fresh schema: equal when the live ones applied every event once."""
    await migrate(settings.database_url, schema="fresh")
    stop = asyncio.Event()
    fresh = asyncio.create_task(Projector(settings, schema="fresh").run(stop))
    try:
        await wait_until_projected(settings, settings.database_url, schema="fresh")
    finally:
        stop.set()
        await fresh
    conn = await asyncpg.connect(settings.database_url)
    try:
        return await snapshot(conn, "public"), await snapshot(conn, "fresh")
    finally:
        await conn.close()
