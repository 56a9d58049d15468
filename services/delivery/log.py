"""The delivery log, as the audit reads it: each webhook the log called for, every attempt."""

from __future__ import annotations

from datetime import datetime

import asyncpg
import msgspec

from services.config import Settings
from services.postgres import init_connection


class Attempt(msgspec.Struct, frozen=True):
    attempt: int
    started_at: datetime
    latency_ms: float
    status_code: int | None
    outcome: str
    error: str | None


class Delivery(msgspec.Struct, frozen=True):
    delivery_id: str  # the event's id, and the idempotency token of every attempt
    event_type: str
    resource_sid: str
    occurred_at: datetime
    method: str
    url: str
    status: str
    params: dict[str, str]
    attempts: list[Attempt]


async def deliveries(
    settings: Settings,
    account_sid: str,
    resource_sid: str | None = None,
    status: str | None = None,
    limit: int | None = 100,
) -> list[Delivery]:
    """The account's latest deliveries (of one resource, of one status), oldest first; every
    one with `limit` None."""
    conn = await asyncpg.connect(settings.database_url)
    try:
        await init_connection(conn)
        rows = await conn.fetch(
            "select * from (select * from webhook_deliveries where account_sid = $1 "
            "and ($2::text is null or resource_sid = $2) and ($3::text is null or status = $3) "
            "order by occurred_at desc, delivery_id limit $4) d order by occurred_at",
            account_sid,
            resource_sid,
            status,
            limit,
        )
        attempts = await conn.fetch(
            "select * from webhook_attempts where delivery_id = any($1::text[]) order by attempt",
            [r["delivery_id"] for r in rows],
        )
    finally:
        await conn.close()
    by_delivery: dict[str, list[Attempt]] = {}
    for a in attempts:
        fields = {f: a[f] for f in Attempt.__struct_fields__}
        by_delivery.setdefault(a["delivery_id"], []).append(Attempt(**fields))
    return [
        Delivery(
            **{f: r[f] for f in Delivery.__struct_fields__ if f != "attempts"},
            attempts=by_delivery.get(r["delivery_id"], []),
        )
        for r in rows
    ]
