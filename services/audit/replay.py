"""`fleetstate replay --into SCHEMA`: every read model rebuilt from the event log alone.

The log is read from each partition's first offset, every event folded in memory through the
projection's own changes() (services.audit.fold), and the final rows COPYed into a fresh
schema built by the migrations. Reading, decoding and folding, where the CPU goes, run in
worker processes, one per group of partitions (services.audit.replay_worker says why they
need not share anything); they send rows already encoded for binary COPY, and this process
forwards them into ONE transaction: the event history (one row per event) streamed while the
log is still being read, the other tables' final rows at the end, then the indexes, built
once over all rows rather than updated a million times (their sorts by PostgreSQL's parallel
workers, as many as replay has workers). A failed replay leaves empty tables.

Without --until, the replay also writes its tracking rows (the offsets it read up to), so a
projector started on the schema carries on from there: a replayed schema can take over.

--verify compares with the live schema as one snapshot of it: the transaction is REPEATABLE
READ and its first statement reads where the live projector stands, so the replay reads the
log up to exactly those offsets, and the comparison sees the live rows of that same moment,
however far the projector has moved meanwhile.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import re
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from typing import NamedTuple

import asyncpg
import msgspec

from services.audit.compare import differences
from services.audit.copy_binary import HEADER, TRAILER, UnsupportedType, row_encoder
from services.audit.differences import RowDifference
from services.audit.log_scan import partition_bounds, scan_consumer
from services.audit.replay_worker import WorkerJob, WorkerResult, WorkerTimings
from services.audit.replay_worker import main as worker_main
from services.config import Settings
from services.migrate import migrate
from services.process_cpu import cpu_seconds, parent_of, reaped_cpu_seconds
from services.projection.projector import READ_MODELS
from services.projection.tables import EVENT_HISTORY, TABLES
from services.projection.tracking import advance, positions, record_skipped, tracked_offsets

HISTORY_CHUNK = 20_000  # event-history rows per message from a worker
# Indexes are built once the rows are in (a sort per index, far cheaper than a million
# inserts into each), with this much memory for each build's sort.
INDEX_BUILD_MEMORY = "512MB"
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
    """Where the time went, in seconds of wall time: `stream` from the start of reading until
    every worker had sent its last rows and the event history was in; `copy_final` COPYs the
    other tables; `indexes` builds every index. `workers` sums the workers' own seconds
    reading (waiting for the broker), decoding, folding and encoding. The CPU seconds say what
    the work cost, whatever else the machine was doing: the workers', this process's, and the
    PostgreSQL backend's and, summed, of the parallel workers its index builds started (None
    when the server is not on this host; any other session ending meanwhile is counted too)."""

    stream: float = 0.0
    copy_final: float = 0.0
    indexes: float = 0.0
    verify: float = 0.0
    total: float = 0.0
    workers: WorkerTimings = msgspec.field(default_factory=WorkerTimings)
    workers_cpu: float = 0.0
    busiest_worker_cpu: float = 0.0  # what bounds the workers when each has a core
    parent_cpu: float = 0.0
    postgres_cpu: float | None = None
    postgres_parallel_cpu: float | None = None


class ReplayReport(msgspec.Struct, kw_only=True):
    schema: str
    events: int  # folded
    left_out: int  # after --until
    skipped: list[tuple[int, int, str]]  # (partition, offset, reason): undecodable events
    read_up_to: dict[int, int]  # partition -> next offset
    rows: dict[str, int]
    timings: Timings
    workers: int
    differences: list[RowDifference] | None = None  # with --verify

    @property
    def events_per_second(self) -> float:
        return self.events / self.timings.total if self.timings.total else 0.0


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
    workers: int | None = None,
) -> ReplayReport:
    """Rebuilds every read model into `schema`; with `verify_against`, compares it with that
    schema. on_progress(offsets read, offsets to read). `workers`: processes reading the
    log (default: one per CPU, at most one per partition)."""
    if until is not None and verify_against is not None:
        raise ReplayError("--until rebuilds a past state: there is no live state to verify")
    started = time.perf_counter()
    await prepare_schema(settings.database_url, schema, live_schema, replace)
    plan = _Plan(settings, schema, until, verify_against, workers or os.cpu_count() or 1)
    try:
        return await _rebuild(plan, on_progress, started)
    except BaseException:
        # The schema is ours and its tables empty (the transaction rolled back): leave
        # nothing behind, so the same command can simply be run again.
        await _drop_schema(settings.database_url, schema)
        raise


async def _drop_schema(dsn: str, schema: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(f'drop schema if exists "{schema}" cascade')
    finally:
        await conn.close()


class _Plan(NamedTuple):
    settings: Settings
    schema: str  # the fresh one, replayed into
    until: datetime | None  # events after it left out
    verify_against: str | None  # the live schema to compare with
    workers: int  # processes reading the log, at most


async def _rebuild(
    plan: _Plan, on_progress: Callable[[int, int], None] | None, started: float
) -> ReplayReport:
    settings, schema, until, verify_against = plan[:4]
    timings = Timings()
    parent_cpu_before = time.process_time()
    topic = settings.events_topic
    consumer = scan_consumer(settings.kafka_bootstrap)
    await consumer.start()
    try:
        bounds = await partition_bounds(consumer, settings.kafka_bootstrap, topic)
    finally:
        await consumer.stop()
    conn = await asyncpg.connect(settings.database_url, server_settings={"search_path": schema})
    postgres_cpu_before = cpu_seconds(conn.get_server_pid())
    try:
        isolation = "repeatable_read" if verify_against else "read_committed"
        async with conn.transaction(isolation=isolation):
            if verify_against is not None:
                # The first statement: from here on the transaction sees the live schema
                # exactly as it was when the projector stood at these offsets.
                # Tracked offsets were committed when the projector read them, so they are
                # never past the log's end now (the end read above may be older than them).
                stands = await positions(conn, READ_MODELS, topic, verify_against)
                ranges = {p: (b, max(b, stands.get(p, b))) for p, (b, _) in bounds.items()}
            else:
                ranges = bounds
            columns = await _column_types(conn, schema)
            # The index builds come after the log's workers have ended: their cores sort.
            rebuild_indexes = await defer_indexes(conn, schema, parallel=plan.workers)
            groups = _partition_groups(ranges, plan.workers)
            jobs = [
                WorkerJob(
                    bootstrap=settings.kafka_bootstrap,
                    topic=topic,
                    ranges=group,
                    until=until,
                    columns=columns,
                    chunk_rows=HISTORY_CHUNK,
                )
                for group in groups
            ]
            streamed = time.perf_counter()
            async with _Workers(jobs) as pool:
                total = sum(stop - start for start, stop in ranges.values())
                history = pool.history(total, on_progress)
                await conn.copy_to_table(
                    EVENT_HISTORY.name,
                    source=history,
                    columns=EVENT_HISTORY.columns,
                    schema_name=schema,
                    format="binary",
                )
                results = pool.results
            timings.stream = time.perf_counter() - streamed
            copied = time.perf_counter()
            rows = await _copy_final_rows(conn, schema, results)
            rows[EVENT_HISTORY.name] = pool.history_rows
            timings.copy_final = time.perf_counter() - copied
            indexed = time.perf_counter()
            reaped_before = _ended_siblings_cpu(conn.get_server_pid())
            await rebuild_indexes()
            timings.indexes = time.perf_counter() - indexed
            reaped_after = _ended_siblings_cpu(conn.get_server_pid())
            if reaped_before is not None and reaped_after is not None:
                timings.postgres_parallel_cpu = reaped_after - reaped_before
            skipped = sorted(s for result in results for s in result.skipped)
            read_up_to = {p: stop for p, (_, stop) in ranges.items()}
            if until is None:  # a past state is not a position a projector may resume from
                # Tracked as the live projector tracks its own: a projector started on this
                # schema carries on from here.
                await tracked_offsets(conn, READ_MODELS, topic, list(read_up_to))
                for partition, offset in read_up_to.items():
                    await advance(conn, READ_MODELS, topic, partition, 0, offset)
            await record_skipped(conn, READ_MODELS, [(topic, *s) for s in skipped])
            found = None
            if verify_against is not None:
                compared = time.perf_counter()
                await binary_jsonb(conn)
                found = await differences(conn, verify_against, schema)
                timings.verify = time.perf_counter() - compared
        postgres_cpu_after = cpu_seconds(conn.get_server_pid())
    finally:
        await conn.close()
    timings.total = time.perf_counter() - started
    timings.parent_cpu = time.process_time() - parent_cpu_before
    timings.workers_cpu = sum(result.cpu for result in results)
    timings.busiest_worker_cpu = max((result.cpu for result in results), default=0.0)
    if postgres_cpu_before is not None and postgres_cpu_after is not None:
        timings.postgres_cpu = postgres_cpu_after - postgres_cpu_before
    for result in results:
        for name in ("read", "decode", "fold", "encode"):
            value = getattr(timings.workers, name) + getattr(result.timings, name)
            setattr(timings.workers, name, value)
    return ReplayReport(
        schema=schema,
        events=sum(r.applied for r in results),
        left_out=sum(r.left_out for r in results),
        skipped=skipped,
        read_up_to=read_up_to,
        rows=rows,
        timings=timings,
        workers=len(jobs),
        differences=found,
    )


def _partition_groups(
    ranges: dict[int, tuple[int, int]], workers: int
) -> list[dict[int, tuple[int, int]]]:
    """Partitions with something to read dealt to at most `workers` groups, largest first to
    the lightest group. An empty partition goes to none: a worker with nothing to read would
    stop its consumer before the consumer's own start-up task ran, which aiokafka (0.14)
    answers with CancelledError."""
    ranges = {p: (start, stop) for p, (start, stop) in ranges.items() if stop > start}
    count = max(1, min(workers, len(ranges)))
    groups: list[dict[int, tuple[int, int]]] = [{} for _ in range(count)]
    loads = [0] * count
    for p, (start, stop) in sorted(ranges.items(), key=lambda item: item[1][0] - item[1][1]):
        lightest = loads.index(min(loads))
        groups[lightest][p] = (start, stop)
        loads[lightest] += stop - start
    return [group for group in groups if group]


class _Workers:
    """The worker processes and the messages they send, as one async stream."""

    def __init__(self, jobs: list[WorkerJob]) -> None:
        self.jobs = jobs
        self.processes: list = []
        self.inbox: asyncio.Queue = asyncio.Queue()
        self.results: list[WorkerResult] = []
        self.history_rows = 0

    async def __aenter__(self) -> _Workers:
        loop = asyncio.get_running_loop()
        context = multiprocessing.get_context("spawn")  # no fork of a running event loop
        for job in self.jobs:
            receiving, sending = context.Pipe(duplex=False)
            process = context.Process(target=worker_main, args=(sending, job), daemon=True)
            process.start()
            sending.close()  # the child holds it: EOF here means the child is gone
            self.processes.append(process)
            threading.Thread(
                target=self._pump, args=(receiving, loop), daemon=True, name="replay-pipe"
            ).start()
        return self

    def _pump(self, receiving, loop) -> None:
        """Moves one worker's messages from its pipe to the event loop (a pipe read blocks)."""
        while True:
            try:
                message = receiving.recv()
            except (EOFError, OSError):
                message = ("error", "a replay worker exited without a word")
            loop.call_soon_threadsafe(self.inbox.put_nowait, message)
            if message[0] != "history":
                receiving.close()
                return

    async def history(
        self, total: int, on_progress: Callable[[int, int], None] | None
    ) -> AsyncIterator[bytes]:
        """The event-history COPY data: header, every worker's rows as they come, trailer.
        Ends when every worker is done; raises when one fails."""
        yield HEADER
        done = 0
        while len(self.results) < len(self.jobs):
            message = await self.inbox.get()
            if message[0] == "history":
                _, rows, offsets, data = message
                self.history_rows += rows
                done += offsets
                if on_progress is not None:
                    on_progress(min(done, total), total)
                if data:
                    yield data
            elif message[0] == "done":
                self.results.append(message[1])
            else:
                raise ReplayError(f"a replay worker failed: {message[1]}")
        if on_progress is not None:
            on_progress(total, total)
        yield TRAILER

    async def __aexit__(self, *exc: object) -> None:
        for process in self.processes:
            if exc[0] is not None and process.is_alive():
                process.terminate()
        for process in self.processes:
            await asyncio.to_thread(process.join)


def _ended_siblings_cpu(pid: int) -> float | None:
    """CPU seconds of the ended children of `pid`'s parent: for a PostgreSQL backend, every
    process the postmaster has reaped, among them the parallel workers an index build
    started (they exit with it, so their own /proc entries are gone)."""
    parent = parent_of(pid)
    return None if parent is None else reaped_cpu_seconds(parent)


async def _column_types(conn, schema: str) -> dict[str, list[tuple[str, str, bool]]]:
    """Each read-model table's (column, data type, nullable), in tables.py's order."""
    out = {}
    for table in TABLES:
        rows = await conn.fetch(
            "select column_name, data_type, is_nullable = 'YES' as nullable "
            "from information_schema.columns where table_schema = $1 and table_name = $2",
            schema,
            table.name,
        )
        types = {row["column_name"]: (row["data_type"], row["nullable"]) for row in rows}
        columns = [(column, *types[column]) for column in table.columns]
        try:
            row_encoder(columns)
        except UnsupportedType as exc:
            raise ReplayError(f"{table.name}: {exc}") from None
        out[table.name] = columns
    return out


async def _copy_final_rows(conn, schema: str, results: list[WorkerResult]) -> dict[str, int]:
    counts = {}
    for table in TABLES:
        if table is EVENT_HISTORY:
            continue
        counts[table.name] = sum(r.rows[table.name] for r in results)
        if counts[table.name]:
            await conn.copy_to_table(
                table.name,
                source=_chunks([HEADER, *(r.tables[table.name] for r in results), TRAILER]),
                columns=table.columns,
                schema_name=schema,
                format="binary",
            )
    return counts


async def _chunks(chunks: list[bytes]) -> AsyncIterator[bytes]:
    for chunk in chunks:
        if chunk:
            yield chunk


async def defer_indexes(
    conn, schema: str, parallel: int | None = None
) -> Callable[[], Awaitable[None]]:
    """Drops the indexes and primary keys of the read-model tables of `schema` (empty, in
    this transaction) and returns what builds them again, exactly as the migrations made
    them: the same names and definitions, read back from the catalogue. Each build's sort is
    shared with up to `parallel` PostgreSQL workers (its max_parallel_maintenance_workers;
    None keeps the server's, 2 by default), which it sizes by the table's pages."""
    names = [table.name for table in TABLES]
    constraints = await conn.fetch(
        "select c.relname as table_name, k.conname, pg_get_constraintdef(k.oid) as definition "
        "from pg_constraint k join pg_class c on c.oid = k.conrelid "
        "join pg_namespace n on n.oid = c.relnamespace "
        "where n.nspname = $1 and c.relname = any($2) and k.contype in ('p', 'u')",
        schema,
        names,
    )
    indexes = await conn.fetch(
        "select i.indexname, i.indexdef from pg_indexes i where i.schemaname = $1 "
        "and i.tablename = any($2) and not exists (select 1 from pg_constraint k "
        "join pg_namespace n on n.oid = k.connamespace where n.nspname = $1 "
        "and k.conname = i.indexname)",
        schema,
        names,
    )
    for index in indexes:
        await conn.execute(f'drop index "{schema}"."{index["indexname"]}"')
    for constraint in constraints:
        await conn.execute(
            f'alter table "{schema}".{constraint["table_name"]} '
            f'drop constraint "{constraint["conname"]}"'
        )

    async def rebuild() -> None:
        await conn.execute(f"set local maintenance_work_mem = '{INDEX_BUILD_MEMORY}'")
        if parallel is not None:
            await conn.execute(f"set local max_parallel_maintenance_workers = {int(parallel)}")
            # The backend has the COPYs behind it and each build's merge and write ahead of
            # it: the sorting is the workers'.
            await conn.execute("set local parallel_leader_participation = off")
        for constraint in constraints:
            await conn.execute(
                f'alter table "{schema}".{constraint["table_name"]} add constraint '
                f'"{constraint["conname"]}" {constraint["definition"]}'
            )
        for index in indexes:
            await conn.execute(index["indexdef"])

    return rebuild
