"""`fleetstate replay --into SCHEMA`: every read model rebuilt from the event log alone.

The log is read from each partition's first offset, every event folded in memory through the
projection's own changes() (services.audit.fold), and the final rows COPYed into a fresh
schema built by the migrations. The event history, one new row per event, is streamed to COPY
in chunks while the log is still being read, so PostgreSQL works on it while Python decodes
and folds. Everything is written in ONE transaction: a failed replay leaves empty tables.

Without --until, the replay also writes its tracking rows (the offsets it read up to), so a
projector started on the schema carries on from there: a replayed schema can take over.

--verify compares with the live schema as one snapshot of it: the transaction is REPEATABLE
READ and its first statement reads where the live projector stands, so the replay reads the
log up to exactly those offsets, and the comparison sees the live rows of that same moment,
however far the projector has moved meanwhile.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable
from datetime import datetime
from operator import itemgetter

import asyncpg
import msgspec

from events.codec import InvalidMessage, decode_event
from services.audit.compare import differences
from services.audit.differences import RowDifference
from services.audit.fold import Fold
from services.audit.log_scan import partition_bounds, scan, scan_consumer
from services.config import Settings
from services.migrate import migrate
from services.projection.changes import Change, LogPosition
from services.projection.projector import READ_MODELS
from services.projection.tables import EVENT_HISTORY, TABLES

HISTORY_CHUNK = 20_000  # event-history rows per COPY while the log is read
_SCHEMA_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")


class ReplayError(RuntimeError):
    pass


async def binary_jsonb(conn: asyncpg.Connection) -> None:
    """jsonb as msgspec-encoded values in asyncpg's binary format (a version byte, then the
    JSON text): COPY speaks binary only, and msgspec encodes payload Structs directly."""
    await conn.set_type_codec(
        "jsonb",
        encoder=lambda value: b"\x01" + msgspec.json.encode(value),
        decoder=lambda data: msgspec.json.decode(data[1:]),
        schema="pg_catalog",
        format="binary",
    )


class Timings(msgspec.Struct, kw_only=True):
    """Where the time went, in seconds. `read` is time spent waiting for the log; `copy_wait`
    is time spent after the log was read, waiting for COPY of the history to finish."""

    read: float = 0.0
    decode: float = 0.0
    fold: float = 0.0
    copy_wait: float = 0.0
    copy_final: float = 0.0
    verify: float = 0.0
    total: float = 0.0


class ReplayReport(msgspec.Struct, kw_only=True):
    schema: str
    events: int  # folded
    left_out: int  # after --until
    skipped: list[tuple[int, int, str]]  # (partition, offset, reason): undecodable events
    read_up_to: dict[int, int]  # partition -> next offset
    rows: dict[str, int]
    timings: Timings
    differences: list[RowDifference] | None = None  # with --verify

    @property
    def events_per_second(self) -> float:
        return self.events / self.timings.total if self.timings.total else 0.0


class _HistoryStream:
    """Event-history rows in chunks, COPYed one chunk after another by a background task."""

    def __init__(self, conn: asyncpg.Connection, schema: str) -> None:
        self.conn = conn
        self.schema = schema
        self.row_of = itemgetter(*EVENT_HISTORY.columns)
        self.chunk: list[tuple] = []
        self.chunks: asyncio.Queue[list[tuple] | None] = asyncio.Queue()
        self.seen: set[str] = set()
        self.rows = 0
        self.task = asyncio.create_task(self._copy())

    def add(self, change: Change) -> None:
        event_id = change.key[0]
        if event_id in self.seen:  # the live projector would overwrite; a stream cannot
            raise ReplayError(f"event {event_id} appears twice in the log")
        self.seen.add(event_id)
        self.chunk.append(self.row_of(change.values))
        if len(self.chunk) >= HISTORY_CHUNK:
            self.chunks.put_nowait(self.chunk)
            self.chunk = []

    async def close(self) -> None:
        if self.chunk:
            self.chunks.put_nowait(self.chunk)
        self.chunks.put_nowait(None)
        await self.task

    async def _copy(self) -> None:
        while (chunk := await self.chunks.get()) is not None:
            await self.conn.copy_records_to_table(
                EVENT_HISTORY.name,
                records=chunk,
                columns=EVENT_HISTORY.columns,
                schema_name=self.schema,
            )
            self.rows += len(chunk)


async def prepare_schema(dsn: str, schema: str, live: str, replace: bool) -> None:
    """A fresh schema with every migration applied; refuses the live schema and, unless
    `replace`, any schema that already holds tables."""
    if not _SCHEMA_NAME.fullmatch(schema):
        raise ReplayError(f"{schema!r} is not a plain schema name (a-z, 0-9, _)")
    if schema == live:
        raise ReplayError(f"refusing to replay into the live schema {live!r}")
    conn = await asyncpg.connect(dsn)
    try:
        tables = await conn.fetchval(
            "select count(*) from information_schema.tables where table_schema = $1", schema
        )
        if tables and not replace:
            raise ReplayError(
                f"schema {schema!r} already holds {tables} tables; replay into a new schema, "
                "or pass --replace to drop it first"
            )
        if replace:
            await conn.execute(f'drop schema if exists "{schema}" cascade')
    finally:
        await conn.close()
    await migrate(dsn, schema=schema)


async def replay(
    settings: Settings,
    schema: str,
    *,
    until: datetime | None = None,
    verify_against: str | None = None,
    replace: bool = False,
    live_schema: str = "public",
    on_progress: Callable[[int, int], None] | None = None,
) -> ReplayReport:
    """Rebuilds every read model into `schema`; with `verify_against`, compares it with that
    schema. on_progress(offsets read, offsets to read)."""
    if until is not None and verify_against is not None:
        raise ReplayError("--until rebuilds a past state: there is no live state to verify")
    started = time.perf_counter()
    timings = Timings()
    await prepare_schema(settings.database_url, schema, live_schema, replace)
    conn = await asyncpg.connect(settings.database_url, server_settings={"search_path": schema})
    consumer = scan_consumer(settings.kafka_bootstrap)
    await consumer.start()
    try:
        await binary_jsonb(conn)
        topic = settings.events_topic
        bounds = await partition_bounds(consumer, settings.kafka_bootstrap, topic)
        isolation = "repeatable_read" if verify_against else "read_committed"
        async with conn.transaction(isolation=isolation):
            if verify_against is not None:
                # The first statement: from here on the transaction sees the live schema
                # exactly as it was when the projector stood at these offsets.
                stands = await _tracked(conn, verify_against, topic)
                ranges = {p: (b, min(e, stands.get(p, b))) for p, (b, e) in bounds.items()}
            else:
                ranges = bounds
            history = _HistoryStream(conn, schema)
            fold = Fold(until=until, insert_only=history.add)
            skipped: list[tuple[int, int, str]] = []
            try:
                await _read_and_fold(consumer, topic, ranges, fold, skipped, timings, on_progress)
            except BaseException:
                history.task.cancel()
                await asyncio.gather(history.task, return_exceptions=True)
                raise
            waited = time.perf_counter()
            await history.close()
            timings.copy_wait = time.perf_counter() - waited
            copied = time.perf_counter()
            rows = await _copy_final_rows(conn, schema, fold)
            rows[EVENT_HISTORY.name] = history.rows
            read_up_to = {p: stop for p, (_, stop) in ranges.items()}
            if until is None:  # a past state is not a position a projector may resume from
                await _track(conn, topic, read_up_to)
            await _record_skipped(conn, topic, skipped)
            timings.copy_final = time.perf_counter() - copied
            found = None
            if verify_against is not None:
                compared = time.perf_counter()
                found = await differences(conn, verify_against, schema)
                timings.verify = time.perf_counter() - compared
    finally:
        await consumer.stop()
        await conn.close()
    timings.total = time.perf_counter() - started
    return ReplayReport(
        schema=schema,
        events=fold.applied,
        left_out=fold.left_out,
        skipped=skipped,
        read_up_to=read_up_to,
        rows=rows,
        timings=timings,
        differences=found,
    )


async def _read_and_fold(consumer, topic, ranges, fold, skipped, timings, on_progress) -> None:
    total = sum(stop - start for start, stop in ranges.values())
    done = 0
    clock = time.perf_counter
    batches = scan(consumer, topic, ranges)
    while True:
        waited = clock()
        try:
            partition, records = await anext(batches)
        except StopAsyncIteration:
            timings.read += clock() - waited
            break
        decoded = clock()
        timings.read += decoded - waited
        events = []
        for record in records:
            try:
                events.append((decode_event(record.value), record.offset))
            except InvalidMessage as exc:  # the live projector skips it too (and records it)
                skipped.append((partition, record.offset, exc.reason))
        folded = clock()
        timings.decode += folded - decoded
        apply = fold.apply
        for event, offset in events:
            apply(event, LogPosition(partition, offset))
        timings.fold += clock() - folded
        done += len(records)
        if on_progress is not None:
            on_progress(done, total)
    if on_progress is not None:
        on_progress(total, total)


async def _copy_final_rows(conn, schema: str, fold: Fold) -> dict[str, int]:
    counts = {}
    for table in TABLES:
        if table is EVENT_HISTORY:
            continue
        rows = fold.tables.get(table.name, {}).values()
        records = [tuple(row.get(column) for column in table.columns) for row in rows]
        if records:
            await conn.copy_records_to_table(
                table.name, records=records, columns=table.columns, schema_name=schema
            )
        counts[table.name] = len(records)
    return counts


async def _tracked(conn, live: str, topic: str) -> dict[int, int]:
    rows = await conn.fetch(
        f'select partition, next_offset from "{live}".projection_offsets '
        "where projection = $1 and topic = $2",
        READ_MODELS,
        topic,
    )
    return {row["partition"]: row["next_offset"] for row in rows}


async def _track(conn, topic: str, read_up_to: dict[int, int]) -> None:
    await conn.executemany(
        "insert into projection_offsets (projection, topic, partition, next_offset) "
        "values ($1, $2, $3, $4)",
        [(READ_MODELS, topic, p, offset) for p, offset in read_up_to.items()],
    )


async def _record_skipped(conn, topic: str, skipped: list[tuple[int, int, str]]) -> None:
    if skipped:
        await conn.executemany(
            'insert into projection_skipped (projection, topic, partition, "offset", reason) '
            "values ($1, $2, $3, $4, $5)",
            [(READ_MODELS, topic, p, offset, reason) for p, offset, reason in skipped],
        )
