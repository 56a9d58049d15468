"""Waits until the read models include given event-log positions (read-your-writes).

The projector NOTIFYs `fleetstate_projection` with its new positions on every commit; this
listens on one connection and wakes the callers whose positions are covered. Notifications
can be missed (a reconnect, a restart of Postgres), so while anyone waits the tracking table
is also read every POLL_SECONDS, and a lost connection is replaced on the next wait.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import asyncpg

from services.projection.projector import NOTIFY_CHANNEL, READ_MODELS

log = logging.getLogger(__name__)
POLL_SECONDS = 0.5


class ProjectionWaiter:
    def __init__(self, dsn: str, topic: str, projection: str = READ_MODELS) -> None:
        self.dsn = dsn
        self.topic = topic
        self.projection = projection
        self.positions: dict[int, int] = {}  # partition -> next offset applied
        self._conn: asyncpg.Connection | None = None
        self._changed = asyncio.Condition()
        self._poller: asyncio.Task | None = None
        self._waiting = 0
        self._connecting = asyncio.Lock()

    async def start(self) -> None:
        with contextlib.suppress(OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
            await self._connect()

    async def stop(self) -> None:
        if self._poller is not None:
            self._poller.cancel()
            await asyncio.gather(self._poller, return_exceptions=True)
        if self._conn is not None and not self._conn.is_closed():
            await self._conn.close(timeout=2)

    def covers(self, wanted: dict[int, int]) -> bool:
        """True when every (partition, offset) in `wanted` has been applied."""
        return all(self.positions.get(p, 0) > offset for p, offset in wanted.items())

    async def wait_for(self, wanted: dict[int, int], timeout: float) -> bool:
        """Waits until `wanted` {partition: offset} is applied; False when `timeout` passed."""
        if self.covers(wanted):
            return True
        self._waiting += 1
        try:
            await self._ensure_listening()
            if self._poller is None or self._poller.done():
                self._poller = asyncio.create_task(self._poll())
            async with asyncio.timeout(timeout):
                async with self._changed:
                    await self._changed.wait_for(lambda: self.covers(wanted))
            return True
        except TimeoutError:
            return False
        finally:
            self._waiting -= 1

    async def _ensure_listening(self) -> None:
        if self._conn is None or self._conn.is_closed():
            with contextlib.suppress(OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
                await self._connect()

    async def _connect(self) -> None:
        async with self._connecting:
            if self._conn is not None and not self._conn.is_closed():
                return
            conn = await asyncpg.connect(self.dsn, timeout=5)
            await conn.add_listener(NOTIFY_CHANNEL, self._notified)
            self._conn = conn
            await self._refresh(conn)

    async def _refresh(self, conn: asyncpg.Connection) -> None:
        rows = await conn.fetch(
            "select partition, next_offset from projection_offsets "
            "where projection = $1 and topic = $2",
            self.projection,
            self.topic,
        )
        await self._advance({row["partition"]: row["next_offset"] for row in rows})

    def _notified(self, conn, pid, channel: str, payload: str) -> None:
        moved = {}
        for item in payload.split(","):  # "topic:partition:next_offset,..."
            topic, partition, offset = item.rsplit(":", 2)
            if topic == self.topic:
                moved[int(partition)] = int(offset)
        if moved:
            asyncio.get_running_loop().create_task(self._advance(moved))

    async def _advance(self, moved: dict[int, int]) -> None:
        async with self._changed:
            for partition, offset in moved.items():
                if offset > self.positions.get(partition, 0):
                    self.positions[partition] = offset
            self._changed.notify_all()

    async def _poll(self) -> None:
        """The safety net for lost notifications, running only while somebody waits."""
        while self._waiting:
            await asyncio.sleep(POLL_SECONDS)
            try:
                await self._ensure_listening()
                if self._conn is not None:
                    await self._refresh(self._conn)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.debug("projection waiter: %s", exc)
                self._conn = None
