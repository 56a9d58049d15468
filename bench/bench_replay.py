"""Replay benchmark (not a test): `make bench-replay` or
`.venv/bin/python bench/bench_replay.py [--events N] [--runs R] [--topic T] [--keep-topic]`
with the dev stack running.

Once: N events (default 1,000,000) made by bench/event_log.py (the pure decider, chained like
the processor, produced transactionally with raw aiokafka) into a fresh events topic of the
configured partition count (or an existing topic given with --topic).
Each run:
1. replay: `services.audit.replay.replay` of the whole topic into a fresh schema, timed from
   the start (migrations included) to the commit; events/s, and where the time went.
2. ceiling: the same final rows (read back from the replayed schema, untimed) COPYed with
   asyncpg copy_records_to_table into the empty tables of another fresh schema; events/s as
   if replay cost nothing but that COPY. Replay builds the indexes after the rows, so the
   same COPY is also timed that way (indexes dropped, rows COPYed, indexes built).
Figures are medians over the runs; the ratio is replay events/s / ceiling events/s.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
import uuid
from pathlib import Path

import asyncpg
import msgspec
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.event_log import encoded_events, produce  # noqa: E402
from events.kafka_security import kafka_options  # noqa: E402
from services.audit.replay import binary_jsonb, defer_indexes, prepare_schema, replay  # noqa: E402
from services.config import Settings, load_settings  # noqa: E402
from services.projection.tables import TABLES  # noqa: E402
from services.topics import FOREVER  # noqa: E402


async def make_log(settings: Settings, topic: str, count: int) -> None:
    started = time.perf_counter()
    events = encoded_events(count, settings.partitions)
    made = time.perf_counter() - started
    admin = AIOKafkaAdminClient(**kafka_options(settings.kafka_bootstrap))
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, settings.partitions, 1, topic_configs=FOREVER)])
    finally:
        await admin.close()
    seconds = await produce(settings.kafka_bootstrap, topic, events)
    size = statistics.median(len(value) for _, _, value in events[:10_000])
    print(
        f"log: {len(events):,} events ({size:.0f}-byte median) into {topic}: "
        f"decided and chained in {made:.1f}s, produced in {seconds:.1f}s",
        flush=True,
    )


async def delete_topic(settings: Settings, topic: str) -> None:
    admin = AIOKafkaAdminClient(**kafka_options(settings.kafka_bootstrap))
    await admin.start()
    try:
        await admin.delete_topics([topic])
    finally:
        await admin.close()


async def copy_ceiling(dsn: str, source: str, target: str, indexes_after: bool) -> float:
    """Seconds to COPY the rows of schema `source` into the empty tables of `target`, as the
    migrations make them or, with `indexes_after`, without their indexes, built afterwards
    in the same transaction (what replay does)."""
    await prepare_schema(dsn, target, live="public", replace=True)
    conn = await asyncpg.connect(dsn)
    try:
        await binary_jsonb(conn)
        rows = {}
        for table in TABLES:
            columns = ", ".join(table.columns)
            fetched = await conn.fetch(f'select {columns} from "{source}".{table.name}')
            rows[table] = [tuple(row) for row in fetched]
        started = time.perf_counter()
        async with conn.transaction():
            rebuild = await defer_indexes(conn, target) if indexes_after else None
            for table, records in rows.items():
                await conn.copy_records_to_table(
                    table.name, records=records, columns=table.columns, schema_name=target
                )
            if rebuild is not None:
                await rebuild()
        return time.perf_counter() - started
    finally:
        await conn.close()


async def drop_schemas(dsn: str, *schemas: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        for schema in schemas:
            await conn.execute(f'drop schema if exists "{schema}" cascade')
    finally:
        await conn.close()


async def one_run(settings: Settings, run: int, workers: int | None) -> dict:
    tag = uuid.uuid4().hex[:8]
    replayed, copied = f"bench_replay_{tag}", f"bench_copy_{tag}"
    try:
        report = await replay(settings, replayed, workers=workers)
        ceiling_seconds = await copy_ceiling(settings.database_url, replayed, copied, False)
        deferred_seconds = await copy_ceiling(settings.database_url, replayed, copied, True)
    finally:
        await drop_schemas(settings.database_url, replayed, copied)
    t, w = report.timings, report.timings.workers
    result = {
        "events": report.events,
        "workers": report.workers,
        "rate": report.events / t.total,
        "ceiling": report.events / ceiling_seconds,
        "total": t.total,
        "ceiling_seconds": ceiling_seconds,
        "deferred": report.events / deferred_seconds,
        "stream": t.stream,
        "copy_final": t.copy_final,
        "indexes": t.indexes,
        **{f"w_{name}": getattr(w, name) for name in ("read", "decode", "fold", "encode")},
        "cpu_workers": t.workers_cpu,
        "cpu_busiest_worker": t.busiest_worker_cpu,
        "cpu_parent": t.parent_cpu,
        "cpu_postgres": t.postgres_cpu if t.postgres_cpu is not None else float("nan"),
        "cpu_parallel": (
            t.postgres_parallel_cpu if t.postgres_parallel_cpu is not None else float("nan")
        ),
    }
    print(
        f"run {run + 1}: {result['rate']:,.0f} events/s ({t.total:.1f}s: log read, folded and "
        f"streamed {t.stream:.1f}, other tables {t.copy_final:.1f}, indexes {t.indexes:.1f}; "
        f"{report.workers} workers spent (summed) reading {w.read:.1f}, decoding {w.decode:.1f}, "
        f"folding {w.fold:.1f}, encoding {w.encode:.1f}); COPY ceiling "
        f"{result['ceiling']:,.0f} events/s ({ceiling_seconds:.1f}s), with indexes built "
        f"after {result['deferred']:,.0f} events/s ({deferred_seconds:.1f}s); CPU seconds: "
        f"workers {t.workers_cpu:.1f}, parent {t.parent_cpu:.1f}, postgres "
        f"{result['cpu_postgres']:.1f}, its index builds' parallel workers "
        f"{result['cpu_parallel']:.1f}",
        flush=True,
    )
    return result


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--topic", help="replay this existing events topic instead of a new one")
    parser.add_argument("--keep-topic", action="store_true", help="keep the topic made here")
    parser.add_argument(
        "--workers",
        type=int,
        help="replay's worker processes (default: one per core); with --partitions, the work "
        "split as it would be on that many cores, to project the figure there",
    )
    parser.add_argument("--partitions", type=int, help="of the log made (default: settings)")
    args = parser.parse_args()
    base = load_settings()
    if args.partitions:
        base = msgspec.structs.replace(base, partitions=args.partitions)
    topic = args.topic or f"bench-replay-{uuid.uuid4().hex[:8]}.events"
    if not args.topic:
        await make_log(base, topic, args.events)
    settings = msgspec.structs.replace(base, events_topic=topic)
    try:
        runs = [await one_run(settings, run, args.workers) for run in range(args.runs)]
    finally:
        if not args.topic and not args.keep_topic:
            await delete_topic(base, topic)

    def median(key: str) -> float:
        return statistics.median(r[key] for r in runs)

    ratio = statistics.median(r["rate"] / r["ceiling"] for r in runs)
    deferred_ratio = statistics.median(r["rate"] / r["deferred"] for r in runs)
    print(
        f"\n{runs[0]['events']:,} events, {base.partitions} partitions, median of {len(runs)} runs"
    )
    print(
        f"replay       : {median('rate'):>10,.0f} events/s  ({median('total'):.1f}s)   "
        f"goal >= 100,000"
    )
    print(
        f"COPY ceiling : {median('ceiling'):>10,.0f} events/s  ({median('ceiling_seconds'):.1f}s)"
        f"   ratio {ratio:.2f}, goal >= 0.30"
    )
    print(
        f"  ... indexes built after the rows: {median('deferred'):,.0f} events/s, "
        f"ratio {deferred_ratio:.2f}"
    )
    print(
        "where replay's time went (medians, s of wall time): "
        + ", ".join(
            f"{name} {median(name):.2f}" for name in ("stream", "copy_final", "indexes", "total")
        )
        + "; summed over the workers: "
        + ", ".join(
            f"{name} {median('w_' + name):.2f}" for name in ("read", "decode", "fold", "encode")
        )
    )
    cpu = {name: median(f"cpu_{name}") for name in ("workers", "parent", "postgres", "parallel")}
    per_event = sum(cpu.values()) / runs[0]["events"] * 1e6
    cores = os.cpu_count() or 1
    print(
        "CPU seconds (medians): "
        + ", ".join(f"{name} {seconds:.1f}" for name, seconds in cpu.items())
        + f"; {per_event:.1f} us of CPU per event besides the broker's: on {cores} cores "
        f"that bounds replay at {cores / per_event * 1e6:,.0f} events/s"
    )
    # With a core for each process, the busiest one bounds the run: the split measured here
    # (its CPU seconds hold whatever else the machine did) projected onto that many cores.
    # PostgreSQL's parallel workers are counted as if all ran on one core: their split is
    # not measured (they are gone when it could be), and no one of them did more than all.
    busiest = {
        "a worker": median("cpu_busiest_worker"),
        "the parent": cpu["parent"],
        "PostgreSQL": cpu["postgres"],
        "PostgreSQL's parallel workers": cpu["parallel"],
    }
    name, seconds = max(busiest.items(), key=lambda item: item[1])
    processes = runs[0]["workers"] + 3
    print(
        f"with a core for each of its {processes} processes ({runs[0]['workers']} workers, the "
        f"parent, PostgreSQL's backend and its index builds' parallel workers as one; the "
        f"broker aside) the busiest, {name} at {seconds:.1f} "
        f"CPU s, bounds replay at {runs[0]['events'] / seconds:,.0f} events/s "
        "(" + ", ".join(f"{k} {v:.1f}" for k, v in busiest.items()) + ")"
    )


if __name__ == "__main__":
    asyncio.run(main())
