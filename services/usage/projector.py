"""`fleetstate usage-projector`: the usage log -> the usage read models in PostgreSQL.

Exactly once like the events projector (README, "Guarantees"): each batch of usage-log
records adds its bytes to `usage_hourly` and `sim_usage` and moves its tracking rows
(projection "usage_records") in ONE transaction, the tracking update conditional on the offset
it expects. The rows only ever grow by additions, so applying a record twice would count it
twice: the tracking row is what makes that impossible.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

import asyncpg
from aiokafka import TopicPartition

from events.codec import InvalidMessage
from events.usage import UsageFacts, decode_facts
from services.config import Settings
from services.lifecycle import stop_on_signals
from services.log_reader import log_consumer, partition_ids
from services.projection.tracking import (
    StaleTracking,
    advance,
    record_skipped,
    tracked_offsets,
)
from services.topics import ensure_topics
from services.usage import metrics

log = logging.getLogger(__name__)

USAGE_RECORDS = "usage_records"
MAX_BATCH = 2000  # usage-log records per transaction

_ADD_HOURLY = (
    "insert into usage_hourly (account_sid, sim_sid, fleet_sid, network_sid, hour, "
    "data_upload, data_download, data_disabled_bytes) values ($1, $2, $3, $4, $5, $6, $7, $8) "
    "on conflict (sim_sid, hour, network_sid, fleet_key) do update set "
    "data_upload = usage_hourly.data_upload + excluded.data_upload, "
    "data_download = usage_hourly.data_download + excluded.data_download, "
    "data_disabled_bytes = usage_hourly.data_disabled_bytes + excluded.data_disabled_bytes"
)
_ADD_PERIOD = (
    "insert into sim_usage (sim_sid, period_start, period_end, account_sid, data_upload, "
    "data_download, data_disabled_bytes) values ($1, $2, $3, $4, $5, $6, $7) "
    "on conflict (sim_sid, period_start) do update set "
    "data_upload = sim_usage.data_upload + excluded.data_upload, "
    "data_download = sim_usage.data_download + excluded.data_download, "
    "data_disabled_bytes = sim_usage.data_disabled_bytes + excluded.data_disabled_bytes"
)


def _at(epoch: int) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def additions(all_facts: list[UsageFacts]) -> tuple[list[tuple], list[tuple]]:
    """The rows to add to usage_hourly and sim_usage for a batch, summed per row."""
    hourly: dict[tuple, list] = {}
    periods: dict[tuple, list] = {}
    for facts in all_facts:
        for b in facts.buckets:
            disabled = b.bytes_up + b.bytes_down if b.data_disabled else 0
            key = (b.sim_sid, b.hour, b.network_sid, b.fleet_sid)
            row = hourly.setdefault(key, [b.account_sid, 0, 0, 0])
            row[1] += b.bytes_up
            row[2] += b.bytes_down
            row[3] += disabled
            key = (b.sim_sid, b.period_start)
            row = periods.setdefault(key, [b.period_end, b.account_sid, 0, 0, 0])
            row[2] += b.bytes_up
            row[3] += b.bytes_down
            row[4] += disabled
    return (
        [
            (account, sim, fleet, network, _at(hour), up, down, disabled)
            for (sim, hour, network, fleet), (account, up, down, disabled) in hourly.items()
        ],
        [
            (sim, _at(start), _at(end), account, up, down, disabled)
            for (sim, start), (end, account, up, down, disabled) in periods.items()
        ],
    )


class UsageProjector:
    def __init__(self, settings: Settings, schema: str = "public") -> None:
        self.settings = settings
        self.schema = schema
        self.topic = settings.usage_log_topic
        self.positions: dict[int, int] = {}

    async def run(self, stop: asyncio.Event) -> None:
        consumer = log_consumer(self.settings.kafka_bootstrap)
        await consumer.start()
        try:
            partitions = await partition_ids(self.settings.kafka_bootstrap, self.topic)
            consumer.assign([TopicPartition(self.topic, p) for p in partitions])
            while not stop.is_set():
                try:
                    await self._follow(consumer, partitions, stop)
                except (
                    OSError,
                    asyncpg.PostgresError,
                    asyncpg.InterfaceError,
                    StaleTracking,
                ) as exc:
                    log.warning("usage projector: %s; resuming from the tracked offsets", exc)
                    try:
                        await asyncio.wait_for(stop.wait(), 1.0)
                    except TimeoutError:
                        pass
        finally:
            await consumer.stop()

    async def _follow(self, consumer, partitions: list[int], stop: asyncio.Event) -> None:
        conn = await asyncpg.connect(
            self.settings.database_url, timeout=10, server_settings={"search_path": self.schema}
        )
        try:
            self.positions = await tracked_offsets(conn, USAGE_RECORDS, self.topic, partitions)
            for partition, offset in self.positions.items():
                consumer.seek(TopicPartition(self.topic, partition), offset)
            while not stop.is_set():
                batches = await consumer.getmany(timeout_ms=200, max_records=MAX_BATCH)
                if any(batches.values()):
                    await self._apply(conn, batches)
        finally:
            await conn.close(timeout=2)

    async def _apply(self, conn: asyncpg.Connection, batches) -> None:
        facts: list[UsageFacts] = []
        skipped: list[tuple[int, int, str]] = []
        moved: dict[int, tuple[int, int]] = {}
        for tp, records in batches.items():
            expected = self.positions[tp.partition]
            records = [r for r in records if r.offset >= expected]  # a refetch after a seek
            if not records:
                continue
            for record in records:
                try:
                    facts.append(decode_facts(record.value))
                except InvalidMessage as exc:
                    log.error(
                        "usage projector: skipping %d@%d: %s", tp.partition, record.offset, exc
                    )
                    skipped.append((tp.partition, record.offset, exc.reason))
            moved[tp.partition] = (expected, records[-1].offset + 1)
        if not moved:
            return
        hourly, periods = additions(facts)
        async with conn.transaction():
            await conn.executemany(_ADD_HOURLY, hourly)
            await conn.executemany(_ADD_PERIOD, periods)
            for partition, (expected, next_offset) in moved.items():
                await advance(conn, USAGE_RECORDS, self.topic, partition, expected, next_offset)
            await record_skipped(conn, USAGE_RECORDS, [(self.topic, *s) for s in skipped])
        for partition, (_, next_offset) in moved.items():
            self.positions[partition] = next_offset
        metrics.PROJECTED_RECORDS.inc(len(facts))


async def run_usage_projector(settings: Settings) -> None:
    stop = stop_on_signals()
    await ensure_topics(settings)
    await UsageProjector(settings).run(stop)
