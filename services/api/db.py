"""The read side's PostgreSQL access: one asyncpg pool per API process.

The pool is made on first use, not at start, so the API starts (and answers 503) while
PostgreSQL is down, and a connection that died with a restart of PostgreSQL is retried once on
a fresh one: the first request after the database returns already succeeds.
"""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg

from services.api.errors import unavailable
from services.postgres import init_connection

# A dead pooled connection shows up as one of these on its next use (InternalClientError:
# see DATABASE_AWAY).
_LOST_CONNECTION = (
    asyncpg.ConnectionDoesNotExistError,
    asyncpg.InternalClientError,
    asyncpg.InterfaceError,
    asyncpg.AdminShutdownError,
    asyncpg.CannotConnectNowError,
    ConnectionError,
)
# Failures that mean the database cannot be reached at all.
_UNREACHABLE = (OSError, asyncpg.PostgresConnectionError, *_LOST_CONNECTION)


async def _nothing_to_reset(conn: asyncpg.Connection) -> None:
    """The API's queries are single statements that leave no session state (no SET, LISTEN,
    cursor or advisory lock), so a connection goes back to the pool as it is. asyncpg's default
    reset sends RESET ALL and friends on every release: a second round trip per request. An
    open transaction is still rolled back by asyncpg before this is called."""


class Database:
    def __init__(self, dsn: str, max_size: int = 10) -> None:
        self.dsn = dsn
        self.max_size = max_size
        self._pool: asyncpg.Pool | None = None
        self._creating = asyncio.Lock()

    async def start(self) -> None:
        try:
            await self._get_pool()
        except _UNREACHABLE:
            pass  # made on the first request instead

    async def stop(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    async def _get_pool(self) -> asyncpg.Pool:
        if self._pool is not None:
            return self._pool
        async with self._creating:
            if self._pool is None:
                self._pool = await asyncpg.create_pool(
                    self.dsn,
                    min_size=1,
                    max_size=self.max_size,
                    init=init_connection,
                    reset=_nothing_to_reset,
                    timeout=3,  # connecting
                    command_timeout=10,
                )
            return self._pool

    async def fetch(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        return await self._run("fetch", sql, args)

    async def fetchrow(self, sql: str, *args: Any) -> asyncpg.Record | None:
        return await self._run("fetchrow", sql, args)

    async def fetchval(self, sql: str, *args: Any) -> Any:
        return await self._run("fetchval", sql, args)

    async def _run(self, method: str, sql: str, args: tuple) -> Any:
        for attempt in (1, 2):
            try:
                pool = await self._get_pool()
                async with pool.acquire(timeout=5) as conn:
                    return await getattr(conn, method)(sql, *args)
            except _LOST_CONNECTION:
                if attempt == 2:
                    raise unavailable() from None
            except _UNREACHABLE:
                raise unavailable() from None
        raise AssertionError("unreachable")
