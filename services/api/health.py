"""Liveness and readiness, cheap enough to leave public.

- GET /livez: the process answers; no I/O at all.
- GET /readyz (and /healthz, its older name, which `make run` and probes poll): can the API
  serve? Asked over what the API already holds, its PostgreSQL pool and its command client's
  Kafka connections, never a connection of its own. One check is shared by every caller that
  comes while it runs, and its answer by every caller for READY_TTL seconds after: a flood of
  probes costs at most one query and one metadata request per second.
"""

from __future__ import annotations

from litestar import Request, Response, get

from services.api.context import api_of


@get("/livez", include_in_schema=False)
async def livez() -> Response:
    return Response({"status": "ok"})


@get(["/readyz", "/healthz"], include_in_schema=False)
async def readyz(request: Request) -> Response:
    answer = await api_of(request).readiness.check()
    return Response(answer, status_code=200 if answer["status"] == "ok" else 503)
