"""How every fleetstate PostgreSQL connection is set up, writers and readers alike."""

from __future__ import annotations

import asyncio

import asyncpg
import msgspec

# A connection that failed or went away: try again later, on a new one. InternalClientError
# is among them: a connection PostgreSQL dropped while shutting down can be left mid-way
# through reading an error, and asyncpg then refuses its next query ("cannot switch to
# state 12"; seen in a chaos run's database restart).
DATABASE_AWAY = (
    OSError,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
)


async def init_connection(conn: asyncpg.Connection) -> None:
    """jsonb in and out as Python values, encoded by msgspec."""
    await conn.set_type_codec(
        "jsonb",
        encoder=lambda value: msgspec.json.encode(value).decode(),
        decoder=msgspec.json.decode,
        schema="pg_catalog",
    )


async def drop_database(conn: asyncpg.Connection, name: str, timeout: float = 60.0) -> None:
    """Drops database `name` if it exists, ending its sessions (FORCE). FORCE refuses while an
    autovacuum worker is in it (a session no non-superuser may end: "must be a member of the
    role whose process is being terminated"); that worker's end is waited for."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        try:
            await conn.execute(f'drop database if exists "{name}" with (force)')
            return
        except asyncpg.InsufficientPrivilegeError:
            if loop.time() > deadline:
                raise
            await asyncio.sleep(0.1)  # noqa: ASYNC110 - the worker's end sends no event here
