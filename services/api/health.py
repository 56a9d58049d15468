"""GET /healthz: the state of each component the service depends on."""

from __future__ import annotations

import asyncio

from litestar import Request, Response, get

from services.health import check_kafka, check_postgres


@get("/healthz")
async def healthz(request: Request) -> Response:
    settings = request.app.state.settings
    kafka, postgres = await asyncio.gather(
        check_kafka(settings.kafka_bootstrap), check_postgres(settings.database_url)
    )
    healthy = kafka["ok"] and postgres["ok"]
    body = {"status": "ok" if healthy else "unavailable", "kafka": kafka, "postgres": postgres}
    return Response(body, status_code=200 if healthy else 503)
