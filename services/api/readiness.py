"""The API's readiness: the answer of /readyz, cached (services/api/health.py serves it)."""

from __future__ import annotations

import asyncio
import time

from services.api.db import Database
from services.api.writes import Writer

READY_TTL = 1.0
CHECK_TIMEOUT = 3.0


class Readiness:
    """Whether the API can serve: its command client reaches Kafka and its pool PostgreSQL.
    One check at a time, its answer kept READY_TTL seconds: a probe never opens a connection."""

    def __init__(self, writer: Writer, db: Database) -> None:
        self.writer = writer
        self.db = db
        self._answer: dict | None = None
        self._answered_at = 0.0
        self._running: asyncio.Future | None = None

    async def check(self) -> dict:
        if self._answer is not None and time.monotonic() - self._answered_at < READY_TTL:
            return self._answer
        if self._running is None:
            self._running = asyncio.ensure_future(self._check())
        # shield: one caller going away must not cancel the check the others wait for.
        return await asyncio.shield(self._running)

    async def _check(self) -> dict:
        try:
            kafka, postgres = await asyncio.gather(self._kafka(), self._postgres())
            ok = kafka["ok"] and postgres["ok"]
            answer = {"status": "ok" if ok else "unavailable", "kafka": kafka, "postgres": postgres}
            self._answer, self._answered_at = answer, time.monotonic()
            return answer
        finally:
            self._running = None

    async def _kafka(self) -> dict:
        client = self.writer.client
        if client is None:
            return {"ok": False, "error": "the command client is not connected to Kafka yet"}
        try:
            brokers = await asyncio.wait_for(client.brokers(), CHECK_TIMEOUT)
        except Exception as exc:  # any failure means "not ready"; the reason is reported
            return {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
        return {"ok": True, "brokers": brokers}

    async def _postgres(self) -> dict:
        try:
            version = await asyncio.wait_for(
                self.db.fetchval("select current_setting('server_version')"), CHECK_TIMEOUT
            )
        except Exception as exc:
            return {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
        return {"ok": True, "server_version": version}
