"""The delivery service's tables (migrations/0009_webhooks.sql): its work queue and its log.

Why PostgreSQL and not a retry topic: a delivery waits minutes to hours between attempts, each
on its own schedule (backoff with jitter). A Kafka topic is read in order, so a retry topic
either blocks on its head or needs one topic per delay; a table with an index on the due time
gives every delivery its own moment, lets any number of instances share the due ones
(FOR UPDATE SKIP LOCKED), and is also the queryable record of every attempt.

A claim does not hold a lock over the HTTP request: it moves the delivery's due time past the
request's lease, so an instance that dies mid-attempt leaves it due again when the lease
ends (tried again, with the same idempotency token: never lost, at worst twice).
"""

from __future__ import annotations

from datetime import UTC, datetime

import asyncpg
import msgspec

from services.delivery.jobs import Job


class Due(msgspec.Struct, frozen=True, kw_only=True):
    """A claimed delivery, and what its next attempt needs."""

    delivery_id: str
    account_sid: str
    url: str
    method: str
    params: dict[str, str]
    host: str
    attempts: int  # made before this one
    first_attempt_at: datetime | None
    auth_token_sealed: str | None


async def take(conn: asyncpg.Connection, tokens: list[tuple], jobs: list[Job]) -> None:
    """Records a batch of the log's tokens and jobs, idempotently: a batch read again (the
    service restarted before committing its offsets) changes nothing."""
    now = datetime.now(UTC)
    async with conn.transaction():
        if tokens:
            await conn.executemany(
                "insert into webhook_tokens (account_sid, auth_token_sealed, version) "
                "values ($1, $2, $3) on conflict (account_sid) do update set "
                "auth_token_sealed = excluded.auth_token_sealed, version = excluded.version "
                "where webhook_tokens.version < excluded.version",
                tokens,
            )
        if jobs:
            await conn.executemany(
                "insert into webhook_deliveries (delivery_id, account_sid, resource_sid, "
                "event_type, url, method, params, host, status, occurred_at, queued_at, "
                "next_attempt_at) values ($1, $2, $3, $4, $5, $6, $7, $8, 'pending', $9, $10, "
                "$10) on conflict (delivery_id) do nothing",
                [
                    (
                        j.delivery_id,
                        j.account_sid,
                        j.resource_sid,
                        j.event_type,
                        j.url,
                        j.method,
                        j.params,
                        j.host,
                        j.occurred_at,
                        now,
                    )
                    for j in jobs
                ],
            )


async def claim(
    conn: asyncpg.Connection, limit: int, busy_hosts: list[str], lease: float
) -> list[Due]:
    """Up to `limit` due deliveries, oldest due first, none to a host in `busy_hosts` (those
    at their cap wait in the table, not in memory), each leased for `lease` seconds."""
    rows = await conn.fetch(
        """
        with due as (
            select delivery_id from webhook_deliveries
            where status = 'pending' and next_attempt_at <= now() and host <> all($2::text[])
            order by next_attempt_at
            limit $1
            for update skip locked
        )
        update webhook_deliveries d set next_attempt_at = now() + $3 * interval '1 second'
        from due where d.delivery_id = due.delivery_id
        returning d.delivery_id
        """,
        limit,
        busy_hosts,
        lease,
    )
    if not rows:
        return []
    found = await conn.fetch(
        "select d.delivery_id, d.account_sid, d.url, d.method, d.params, d.host, d.attempts, "
        "d.first_attempt_at, t.auth_token_sealed from webhook_deliveries d "
        "left join webhook_tokens t on t.account_sid = d.account_sid "
        "where d.delivery_id = any($1::text[])",
        [r["delivery_id"] for r in rows],
    )
    return [Due(**dict(r)) for r in found]


async def record(
    conn: asyncpg.Connection,
    due: Due,
    started_at: datetime,
    latency: float,
    status_code: int | None,
    outcome: str,
    error: str | None,
    status: str,
    next_attempt_at: datetime | None,
) -> None:
    """One attempt, and where it leaves the delivery: delivered, failed (permanently),
    expired (past the horizon) or pending until `next_attempt_at`."""
    # One statement (a data-modifying CTE is atomic): one round trip per attempt.
    await conn.execute(
        """
        with attempt as (
            insert into webhook_attempts (delivery_id, attempt, started_at, latency_ms,
                status_code, outcome, error)
            values ($1, $2, $5, $7, $8, $9, $4) on conflict do nothing
        )
        update webhook_deliveries set attempts = $2, status = $3, last_error = $4,
            first_attempt_at = coalesce(first_attempt_at, $5),
            next_attempt_at = coalesce($6, next_attempt_at)
        where delivery_id = $1
        """,
        due.delivery_id,
        due.attempts + 1,
        status,
        error,
        started_at,
        next_attempt_at,
        latency * 1000,
        status_code,
        outcome,
    )


async def reseal_tokens(conn: asyncpg.Connection, reseal) -> int:
    """Re-encrypts every stored token `reseal` changes (key rotation); how many changed."""
    changed = 0
    async with conn.transaction():
        rows = await conn.fetch(
            "select account_sid, auth_token_sealed from webhook_tokens "
            "where auth_token_sealed is not null for update"
        )
        for row in rows:
            new = reseal(row["auth_token_sealed"])
            if new is not None:
                await conn.execute(
                    "update webhook_tokens set auth_token_sealed = $2 where account_sid = $1",
                    row["account_sid"],
                    new,
                )
                changed += 1
    return changed
