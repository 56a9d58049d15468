"""Tracking rows: where a projection stands in a topic, moved in the same transaction as the
rows it writes (README, "Guarantees": exactly-once projection). Shared by every projector.

Each move is conditional on the offset the projector expects, so a second projector running
by mistake (or a zombie) fails its transaction instead of applying a batch twice.
"""

from __future__ import annotations

from datetime import datetime

import asyncpg


class StaleTracking(RuntimeError):
    """Another projector moved a tracking row: our positions are stale."""


async def tracked_offsets(
    conn: asyncpg.Connection, projection: str, topic: str, partitions: list[int]
) -> dict[int, int]:
    """partition -> next offset to apply, every partition starting at 0 the first time."""
    await conn.executemany(
        "insert into projection_offsets (projection, topic, partition, next_offset) "
        "values ($1, $2, $3, 0) on conflict do nothing",
        [(projection, topic, p) for p in partitions],
    )
    tracked = await positions(conn, projection, topic)
    return {p: offset for p, offset in tracked.items() if p in partitions}


async def positions(
    conn: asyncpg.Connection, projection: str, topic: str, schema: str | None = None
) -> dict[int, int]:
    """partition -> next offset, as tracked (in `schema`, or the connection's own): where a
    projection stands, without claiming any partition."""
    table = "projection_offsets" if schema is None else f'"{schema}".projection_offsets'
    rows = await conn.fetch(
        f"select partition, next_offset from {table} where projection = $1 and topic = $2",
        projection,
        topic,
    )
    return {r["partition"]: r["next_offset"] for r in rows}


async def advance(
    conn: asyncpg.Connection,
    projection: str,
    topic: str,
    partition: int,
    expected: int,
    next_offset: int,
    *,
    last_event_at: datetime | None = None,
    events_behind: int = 0,
    seconds_behind: float = 0.0,
) -> None:
    """Moves a tracking row from `expected` to `next_offset` (inside the caller's
    transaction), with what the projector knows of its lag; StaleTracking if it was not at
    `expected`."""
    status = await conn.execute(
        "update projection_offsets set next_offset = $1, last_event_at = $2, "
        "events_behind = $3, seconds_behind = $4, updated_at = now() "
        "where projection = $5 and topic = $6 and partition = $7 and next_offset = $8",
        next_offset,
        last_event_at,
        events_behind,
        seconds_behind,
        projection,
        topic,
        partition,
        expected,
    )
    if status != "UPDATE 1":
        raise StaleTracking(f"partition {partition} is not at offset {expected}")


async def record_skipped(
    conn: asyncpg.Connection, projection: str, skipped: list[tuple[str, int, int, str]]
) -> None:
    """Inputs set aside, (topic, partition, offset, reason): kept, not lost."""
    if skipped:
        await conn.executemany(
            'insert into projection_skipped (projection, topic, partition, "offset", reason) '
            "values ($1, $2, $3, $4, $5) on conflict do nothing",
            [(projection, *s) for s in skipped],
        )
