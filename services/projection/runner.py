"""The projection port: how any log is projected into PostgreSQL exactly once.

A projection (`LogProjection`) says only what is its own: its name (the tracking rows'),
the log it reads, how a record decodes into an item, and how a batch of items becomes rows.
`ProjectionRunner` does the rest, the same for every projection (README, "Guarantees":
exactly-once projection):

- each batch's rows and its tracking rows (topic, partition, next offset) are written in ONE
  transaction, the tracking update conditional on the offset expected, so a second runner by
  mistake (or a zombie) fails its transaction instead of applying a batch twice;
- at start and after any failure (PostgreSQL away, tracking moved by another) it resumes from
  the tracked offsets, backing off while the database does not answer;
- a record that does not decode, and one PostgreSQL refuses (a batch refused is retried item
  by item), is set aside in `projection_skipped` with the reason; the records after it go on;
- `shared=True` (the live services): the runners of one projection into one database schema
  share the log's partitions as a Kafka consumer group, each resuming a partition it is given
  from its tracking row. The group only spreads the work: its offsets are never committed,
  and the conditional tracking keeps a partition applied once while it moves.

When spans are exported (events.tracing), the records that carry a trace context get a span
each (one per context: a command's events share theirs), from the batch's arrival to its
commit; otherwise no header is even looked at, so a replay costs what it did.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, NamedTuple
from urllib.parse import urlsplit

import asyncpg
from aiokafka import ConsumerRebalanceListener, TopicPartition
from aiokafka.structs import ConsumerRecord

from events import tracing
from events.codec import InvalidMessage
from services.config import Settings
from services.log_reader import LARGE_FETCHES, group_consumer, log_consumer, partition_ids
from services.postgres import DATABASE_AWAY, init_connection
from services.projection.tracking import StaleTracking, advance, record_skipped, tracked_offsets

log = logging.getLogger(__name__)

GROUP_ID = "fleetstate-projection"  # the prefix of shared runners' groups (services/acls.py)

# PostgreSQL refusing a value (a data exception or a violated constraint), as opposed to a
# connection that failed: retrying the same batch would fail the same way forever.
REFUSED = (asyncpg.DataError, asyncpg.IntegrityConstraintViolationError)


class Item(NamedTuple):
    record: ConsumerRecord
    value: Any  # what the projection decoded (None when set aside)
    skipped: str | None  # why the record is set aside (kept in projection_skipped)


class LogProjection(ABC):
    name: str  # its tracking rows' projection name
    topic: str  # the log it projects
    max_batch: int = 2000  # records per transaction

    @abstractmethod
    def decode(self, record: ConsumerRecord) -> Any:
        """The item a record stands for; InvalidMessage sets the record aside."""

    @abstractmethod
    async def write(self, conn: asyncpg.Connection, items: dict[int, list[Any]]) -> None:
        """Writes a batch's items (by partition, in log order), inside the runner's
        transaction."""

    # Optional hooks: by default nothing.
    async def committed(  # noqa: B027
        self, conn: asyncpg.Connection, positions: dict[int, int]
    ) -> None:
        """Inside the transaction, after the tracking rows moved to `positions` (partition ->
        next offset): what others should hear of it."""

    def applied(self, count: int) -> None:  # noqa: B027
        """After a commit: `count` records were projected (or set aside)."""


class ProjectionRunner:
    def __init__(
        self,
        settings: Settings,
        projection: LogProjection,
        schema: str = "public",
        *,
        shared: bool = False,
    ) -> None:
        self.bootstrap = settings.kafka_bootstrap
        self.database_url = settings.database_url
        self.projection = projection
        self.schema = schema
        # One of several runners sharing the partitions (a group member), or alone on all;
        # a member silent this long loses its partitions to the others.
        self.shared = shared
        self.session_timeout_ms = settings.processor_session_timeout_ms
        self.positions: dict[int, int] = {}  # partition -> next offset, as committed
        self._unsought: set[int] = set()  # given partitions not yet sought to their tracking
        self.applied = 0  # records applied since start (for tests and logs)

    @property
    def name(self) -> str:
        return self.projection.name

    @property
    def topic(self) -> str:
        return self.projection.topic

    @property
    def group_id(self) -> str:
        """The group of the runners projecting this log into this schema of this database
        (another database, or another schema, is another group: it needs every partition)."""
        url = urlsplit(self.database_url)
        where = f"{url.hostname}:{url.port}{url.path}/{self.schema}"
        digest = hashlib.sha256(where.encode()).hexdigest()[:12]
        return f"{GROUP_ID}.{self.name}.{self.topic}.{digest}"

    async def run(self, stop: asyncio.Event) -> None:
        if self.shared:
            consumer = group_consumer(
                self.bootstrap, self.group_id, self.session_timeout_ms, **LARGE_FETCHES
            )
        else:
            consumer = log_consumer(self.bootstrap)
        await consumer.start()
        try:
            if self.shared:
                consumer.subscribe([self.topic], listener=_Given(self))
            else:
                partitions = await partition_ids(self.bootstrap, self.topic)
                consumer.assign([TopicPartition(self.topic, p) for p in partitions])
            backoff = 0.2
            while not stop.is_set():
                try:
                    await self._follow(consumer, stop)
                except DATABASE_AWAY as exc:
                    # Postgres went away or a zombie moved our rows: start over from what
                    # is committed, once the database answers again.
                    self._resuming(exc)
                    await _sleep_unless(stop, backoff)
                    backoff = min(backoff * 2, 5.0)
                except StaleTracking as exc:
                    self._resuming(exc)
                else:
                    backoff = 0.2
        finally:
            await consumer.stop()

    def _resuming(self, exc: Exception) -> None:
        log.warning("%s: %s; resuming from the tracked offsets", self.projection.name, exc)

    async def _follow(self, consumer, stop: asyncio.Event) -> None:
        conn = await asyncpg.connect(
            self.database_url, timeout=10, server_settings={"search_path": self.schema}
        )
        try:
            await init_connection(conn)
            self.positions = {}
            self._unsought = {tp.partition for tp in consumer.assignment()}
            while not stop.is_set():
                if self._unsought:
                    await self._seek_tracked(conn, consumer)
                batches = await consumer.getmany(
                    timeout_ms=200, max_records=self.projection.max_batch
                )
                # Only partitions sought to their tracking: another's are fetched again
                # once they are.
                batches = {
                    tp: records
                    for tp, records in batches.items()
                    if records and tp.partition in self.positions
                }
                if batches:
                    await self._apply(conn, consumer, batches)
        finally:
            await conn.close(timeout=2)

    async def _seek_tracked(self, conn: asyncpg.Connection, consumer) -> None:
        """Moves the partitions just given to where their tracking rows say."""
        wanted = sorted(self._unsought)
        tracked = await tracked_offsets(conn, self.projection.name, self.topic, wanted)
        given = {tp.partition for tp in consumer.assignment()}
        for partition, offset in tracked.items():
            self._unsought.discard(partition)
            if partition in given:  # not taken back while the rows were read
                consumer.seek(TopicPartition(self.topic, partition), offset)
                self.positions[partition] = offset

    async def _apply(self, conn: asyncpg.Connection, consumer, batches) -> None:
        arrived = time.time_ns()
        items: list[Item] = []
        for tp, records in batches.items():
            # A fetch in flight at the last seek can deliver records again: skip them.
            fresh = [r for r in records if r.offset >= self.positions[tp.partition]]
            items += [self._item(record) for record in fresh]
        if not items:
            return
        if not tracing.recording():
            await self._apply_items(conn, consumer, items)
            return
        spans = tracing.batch_spans(
            (item.record for item in items),
            {"fleetstate.projection": self.name},
            start_time=arrived,
        )
        try:
            await self._apply_items(conn, consumer, items)
        finally:
            tracing.end_all(spans.values())

    async def _apply_items(self, conn: asyncpg.Connection, consumer, items: list[Item]) -> None:
        try:
            await self._commit(conn, consumer, items)
        except REFUSED as exc:
            # One record PostgreSQL refuses must not stop the projection for good: apply the
            # batch one record at a time and set aside only the refused ones.
            log.error("%s: a batch was refused (%s); applying it one by one", self.name, exc)
            for item in items:
                try:
                    await self._commit(conn, consumer, [item])
                except REFUSED as refused:
                    log.error("%s: skipping %s/%d@%d: %s", self.name, *_where(item.record), refused)
                    set_aside = Item(item.record, None, f"refused by PostgreSQL: {refused}")
                    await self._commit(conn, consumer, [set_aside])

    def _item(self, record: ConsumerRecord) -> Item:
        try:
            return Item(record, self.projection.decode(record), None)
        except InvalidMessage as exc:
            log.error("%s: skipping %s/%d@%d: %s", self.name, *_where(record), exc.reason)
            return Item(record, None, exc.reason)

    async def _commit(self, conn: asyncpg.Connection, consumer, items: Sequence[Item]) -> None:
        """Writes the items and moves the tracking rows past them, in one transaction."""
        by_partition: dict[int, list[Item]] = {}
        for item in items:
            by_partition.setdefault(item.record.partition, []).append(item)
        taken = sorted(set(by_partition) - set(self.positions))
        if taken:  # given to another runner since these records came (a batch retried by item)
            raise StaleTracking(f"partitions {taken} were taken back")
        # Read now: a partition taken back during the transaction leaves self.positions.
        expected = {partition: self.positions[partition] for partition in by_partition}
        now = time.time()
        moved: dict[int, int] = {}
        async with conn.transaction():
            await self.projection.write(
                conn,
                {
                    partition: [i.value for i in part if i.skipped is None]
                    for partition, part in by_partition.items()
                },
            )
            for partition, part in by_partition.items():
                first, last = part[0].record, part[-1].record
                moved[partition] = last.offset + 1
                end = consumer.last_stable_offset(TopicPartition(self.topic, partition))
                await advance(
                    conn,
                    self.name,
                    self.topic,
                    partition,
                    expected[partition],
                    moved[partition],
                    last_event_at=datetime.fromtimestamp(last.timestamp / 1000, UTC),
                    events_behind=max(0, (end or moved[partition]) - moved[partition]),
                    seconds_behind=max(0.0, now - first.timestamp / 1000),
                )
            await record_skipped(
                conn,
                self.name,
                [(*_where(i.record), i.skipped) for i in items if i.skipped is not None],
            )
            await self.projection.committed(conn, moved)
        # Not for a partition taken back meanwhile: it is sought again if it comes back.
        self.positions.update({p: offset for p, offset in moved.items() if p in self.positions})
        self.applied += len(items)
        self.projection.applied(len(items))


class _Given(ConsumerRebalanceListener):
    """Which partitions a shared runner has: given ones are sought to their tracking by the
    runner's loop (which holds its connection); taken ones are forgotten at once."""

    def __init__(self, runner: ProjectionRunner) -> None:
        self.runner = runner

    async def on_partitions_revoked(self, revoked) -> None:
        for tp in revoked:
            self.runner.positions.pop(tp.partition, None)
            self.runner._unsought.discard(tp.partition)

    async def on_partitions_assigned(self, assigned) -> None:
        self.runner._unsought |= {tp.partition for tp in assigned}
        log.info(
            "%s: given partitions %s", self.runner.name, sorted(tp.partition for tp in assigned)
        )


def _where(record: ConsumerRecord) -> tuple[str, int, int]:
    return record.topic, record.partition, record.offset


async def _sleep_unless(stop: asyncio.Event, seconds: float) -> None:
    try:
        await asyncio.wait_for(stop.wait(), seconds)
    except TimeoutError:
        pass
