"""How every fleetstate PostgreSQL connection is set up, writers and readers alike."""

from __future__ import annotations

import asyncpg
import msgspec


async def init_connection(conn: asyncpg.Connection) -> None:
    """jsonb in and out as Python values, encoded by msgspec."""
    await conn.set_type_codec(
        "jsonb",
        encoder=lambda value: msgspec.json.encode(value).decode(),
        decoder=msgspec.json.decode,
        schema="pg_catalog",
    )
