"""`fleetstate projector`: keeps the read models in PostgreSQL up to date with the event log.

Exactly-once projection (README, "Guarantees"): each batch of events is written
together with its tracking rows (topic, partition, next offset) in ONE transaction, and at
start, or after any failure, the projector seeks to the tracked offsets. The tracking update
is conditional on the offset it expects, so a second projector running by mistake (or a
zombie) fails its transaction instead of applying a batch twice.

Each commit also NOTIFYs `fleetstate_projection` with the new positions, so the API can
answer a write once its events are visible (read-your-writes) without polling.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import NamedTuple

import asyncpg
from aiokafka import TopicPartition
from aiokafka.structs import ConsumerRecord

from events.codec import InvalidMessage, decode_event
from events.envelope import EventEnvelope
from services.config import Settings
from services.lifecycle import stop_on_signals
from services.log_reader import log_consumer, partition_ids
from services.postgres import init_connection
from services.projection.changes import Change, LogPosition, changes, coalesce
from services.projection.tracking import (
    StaleTracking,
    advance,
    record_skipped,
    tracked_offsets,
)
from services.projection.writer import write_changes
from services.topics import ensure_topics

log = logging.getLogger(__name__)

READ_MODELS = "read_models"
NOTIFY_CHANNEL = "fleetstate_projection"
MAX_BATCH = 5000  # events per transaction


class Projector:
    def __init__(
        self,
        settings: Settings,
        name: str = READ_MODELS,
        project: Callable[[EventEnvelope, LogPosition], list[Change]] = changes,
        schema: str = "public",
    ) -> None:
        self.settings = settings
        self.name = name
        self.schema = schema
        self.project = project
        self.topic = settings.events_topic
        self.positions: dict[int, int] = {}  # partition -> next offset, as committed
        self.applied = 0  # events applied since start (for tests and logs)

    async def run(self, stop: asyncio.Event) -> None:
        consumer = log_consumer(self.settings.kafka_bootstrap)
        await consumer.start()
        try:
            partitions = await partition_ids(self.settings.kafka_bootstrap, self.topic)
            consumer.assign([TopicPartition(self.topic, p) for p in partitions])
            backoff = 0.2
            while not stop.is_set():
                try:
                    await self._follow(consumer, partitions, stop)
                except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                    # Postgres went away or a zombie moved our rows: start over from what
                    # is committed, once the database answers again.
                    log.warning("projector: %s; resuming from the tracked offsets", exc)
                    await _sleep_unless(stop, backoff)
                    backoff = min(backoff * 2, 5.0)
                except StaleTracking as exc:
                    log.warning("projector: %s; resuming from the tracked offsets", exc)
                else:
                    backoff = 0.2
        finally:
            await consumer.stop()

    async def _follow(self, consumer, partitions: list[int], stop: asyncio.Event) -> None:
        conn = await asyncpg.connect(
            self.settings.database_url, timeout=10, server_settings={"search_path": self.schema}
        )
        try:
            await init_connection(conn)
            self.positions = await tracked_offsets(conn, self.name, self.topic, partitions)
            for partition, offset in self.positions.items():
                consumer.seek(TopicPartition(self.topic, partition), offset)
            while not stop.is_set():
                batches = await consumer.getmany(timeout_ms=200, max_records=MAX_BATCH)
                batches = {tp: records for tp, records in batches.items() if records}
                if batches:
                    await self._apply(conn, consumer, batches)
        finally:
            await conn.close(timeout=2)

    async def _apply(self, conn: asyncpg.Connection, consumer, batches) -> None:
        items: list[_Item] = []
        for tp, records in batches.items():
            # A fetch in flight at the last seek can deliver records again: skip them.
            items += [
                self._item(record)
                for record in records
                if record.offset >= self.positions[tp.partition]
            ]
        if not items:
            return
        try:
            await self._commit(conn, consumer, items)
        except _REFUSED as exc:
            # One event PostgreSQL refuses must not stop the projection for good: apply the
            # batch one event at a time and set aside (record) only the refused ones.
            log.error("projector: a batch was refused (%s); applying it event by event", exc)
            for item in items:
                try:
                    await self._commit(conn, consumer, [item])
                except _REFUSED as refused:
                    log.error("projector: skipping %s/%d@%d: %s", *_where(item.record), refused)
                    set_aside = _Item(item.record, [], f"refused by PostgreSQL: {refused}")
                    await self._commit(conn, consumer, [set_aside])

    def _item(self, record: ConsumerRecord) -> _Item:
        try:
            position = LogPosition(record.partition, record.offset)
            return _Item(record, self.project(decode_event(record.value), position), None)
        except InvalidMessage as exc:
            log.error("projector: skipping %s/%d@%d: %s", *_where(record), exc.reason)
            return _Item(record, [], exc.reason)

    async def _commit(self, conn: asyncpg.Connection, consumer, items: list[_Item]) -> None:
        """Writes the items' changes and moves the tracking rows past them, in one transaction."""
        moved: dict[int, list[ConsumerRecord]] = {}
        by_partition: dict[int, list[_Item]] = {}
        for item in items:
            moved.setdefault(item.record.partition, []).append(item.record)
            by_partition.setdefault(item.record.partition, []).append(item)
        now = time.time()
        async with conn.transaction():
            # Coalesced per partition, which keeps log order: a Sim that moved has events in
            # two partitions, and one's changes must never fold into the other's.
            for partition_items in by_partition.values():
                changed = (c for item in partition_items for c in item.changes)
                await write_changes(conn, coalesce(changed))
            for partition, records in moved.items():
                expected, next_offset = self.positions[partition], records[-1].offset + 1
                end = consumer.last_stable_offset(TopicPartition(self.topic, partition))
                await advance(
                    conn,
                    self.name,
                    self.topic,
                    partition,
                    expected,
                    next_offset,
                    last_event_at=datetime.fromtimestamp(records[-1].timestamp / 1000, UTC),
                    events_behind=max(0, (end or next_offset) - next_offset),
                    seconds_behind=max(0.0, now - records[0].timestamp / 1000),
                )
            await record_skipped(
                conn,
                self.name,
                [(*_where(i.record), i.skipped) for i in items if i.skipped is not None],
            )
            notice = ",".join(f"{self.topic}:{p}:{r[-1].offset + 1}" for p, r in moved.items())
            await conn.execute("select pg_notify($1, $2)", NOTIFY_CHANNEL, notice)
        for partition, records in moved.items():
            self.positions[partition] = records[-1].offset + 1
        self.applied += len(items)


class _Item(NamedTuple):
    record: ConsumerRecord
    changes: list[Change]
    skipped: str | None  # why the event is set aside (recorded in projection_skipped)


# PostgreSQL refusing a value (a data exception or a violated constraint), as opposed to a
# connection that failed: retrying the same batch would fail the same way forever.
_REFUSED = (asyncpg.DataError, asyncpg.IntegrityConstraintViolationError)


def _where(record: ConsumerRecord) -> tuple[str, int, int]:
    return record.topic, record.partition, record.offset


async def _sleep_unless(stop: asyncio.Event, seconds: float) -> None:
    try:
        await asyncio.wait_for(stop.wait(), seconds)
    except TimeoutError:
        pass


async def run_projector(settings: Settings) -> None:
    stop = stop_on_signals()
    await ensure_topics(settings)
    await Projector(settings).run(stop)
