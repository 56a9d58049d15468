"""Liveness and readiness, cheap enough to leave public.

- GET /livez: the process answers; no I/O at all.
- GET /readyz (and /healthz, its older name, which `make run` and probes poll): can the API
  serve? Asked over what the API already holds, its PostgreSQL pool and its command client's
  Kafka connections, never a connection of its own. One check is shared by every caller that
  comes while it runs, and its answer by every caller for READY_TTL seconds after: a flood of
  probes costs at most one query and one metadata request per second.
"""

from __future__ import annotations

import asyncio
import time

from litestar import Request, Response, get

from services.api.context import api_of

READY_TTL = 1.0
CHECK_TIMEOUT = 3.0


class Readiness:
    def __init__(self, api) -> None:
        self.api = api
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
        client = self.api.writer.client
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
                self.api.db.fetchval("select current_setting('server_version')"), CHECK_TIMEOUT
            )
        except Exception as exc:
            return {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
        return {"ok": True, "server_version": version}


@get("/livez", include_in_schema=False)
async def livez() -> Response:
    return Response({"status": "ok"})


@get(["/readyz", "/healthz"], include_in_schema=False)
async def readyz(request: Request) -> Response:
    answer = await api_of(request).readiness.check()
    return Response(answer, status_code=200 if answer["status"] == "ok" else 503)
