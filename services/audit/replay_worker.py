"""One replay worker: a process that reads some partitions of the events log, folds them
through the projection's changes() and sends the rows back, encoded for binary COPY.

Every row of a read model is written by the events of one aggregate, and an aggregate lives
in one partition (its account's), so partitions fold apart and their rows never meet: workers
share nothing. Reading, decoding and folding are where replay spends its CPU, so they run in
parallel; the parent holds the one database transaction and only forwards bytes to COPY.

Messages to the parent, over a one-way pipe:
  ("history", rows, offsets_read, encoded event-history rows)   while reading
  ("done", WorkerResult)                                        at the end
  ("error", traceback text)
"""

from __future__ import annotations

import asyncio
import time
import traceback
from datetime import datetime
from multiprocessing.connection import Connection

import msgspec

from events.codec import InvalidMessage, decode_event
from services.audit.copy_binary import row_encoder
from services.audit.fold import Fold
from services.audit.log_scan import scan, scan_consumer
from services.projection.changes import Change, LogPosition
from services.projection.tables import EVENT_HISTORY


class WorkerJob(msgspec.Struct, frozen=True, kw_only=True):
    bootstrap: str
    topic: str
    ranges: dict[int, tuple[int, int]]  # partition -> (first offset, stop offset)
    until: datetime | None
    columns: dict[str, list[tuple[str, str, bool]]]  # table -> (column, type, nullable)
    chunk_rows: int


class WorkerTimings(msgspec.Struct, kw_only=True):
    read: float = 0.0
    decode: float = 0.0
    fold: float = 0.0
    encode: float = 0.0


class WorkerResult(msgspec.Struct, kw_only=True):
    applied: int
    left_out: int
    skipped: list[tuple[int, int, str]]
    tables: dict[str, bytes]  # final rows of every table but the event history, encoded
    rows: dict[str, int]
    timings: WorkerTimings
    cpu: float  # CPU seconds this worker process used


class DuplicateEvent(ValueError):
    """An event_id twice in the log: exactly-once appending (guarantee 2) was broken."""


def main(pipe: Connection, job: WorkerJob) -> None:
    """The process's entry point."""
    try:
        asyncio.run(_replay_partitions(pipe, job))
    except DuplicateEvent as exc:  # the log's fault, not ours: no traceback
        pipe.send(("error", str(exc)))
    except BaseException:
        pipe.send(("error", traceback.format_exc()))
    finally:
        pipe.close()


async def _replay_partitions(pipe: Connection, job: WorkerJob) -> None:
    clock = time.perf_counter
    timings = WorkerTimings()
    encode_history = row_encoder(job.columns[EVENT_HISTORY.name])
    pending: list[dict] = []
    seen: set[str] = set()

    def keep_history(change: Change) -> None:
        event_id = change.key[0]
        if event_id in seen:  # the live projector would overwrite it; COPY cannot
            raise DuplicateEvent(f"event {event_id} appears twice in the log")
        seen.add(event_id)
        pending.append(change.values)

    def send_history(offsets_read: int) -> None:
        started = clock()
        data = b"".join(map(encode_history, pending))
        timings.encode += clock() - started
        pipe.send(("history", len(pending), offsets_read, data))
        pending.clear()

    fold = Fold(until=job.until, insert_only=keep_history)
    skipped: list[tuple[int, int, str]] = []
    consumer = scan_consumer(job.bootstrap)
    await consumer.start()
    try:
        unsent = 0
        batches = scan(consumer, job.topic, job.ranges)
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
                except InvalidMessage as exc:  # the live projector skips it too
                    skipped.append((partition, record.offset, exc.reason))
            folded = clock()
            timings.decode += folded - decoded
            apply = fold.apply
            for event, offset in events:
                apply(event, LogPosition(partition, offset))
            timings.fold += clock() - folded
            unsent += records[-1].offset + 1 - records[0].offset
            if len(pending) >= job.chunk_rows:
                send_history(unsent)
                unsent = 0
        send_history(unsent)
    finally:
        await consumer.stop()
    started = clock()
    tables, rows = {}, {}
    for name, columns in job.columns.items():
        if name == EVENT_HISTORY.name:
            continue
        encode = row_encoder(columns)
        folded_rows = fold.tables.get(name, {}).values()
        tables[name] = b"".join(map(encode, folded_rows))
        rows[name] = len(folded_rows)
    timings.encode += clock() - started
    result = WorkerResult(
        applied=fold.applied,
        left_out=fold.left_out,
        skipped=skipped,
        tables=tables,
        rows=rows,
        timings=timings,
        cpu=time.process_time(),
    )
    pipe.send(("done", result))
