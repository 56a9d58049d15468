"""Prometheus metrics of the API: requests, latency, command outcomes, projection lag.

Requests are labelled by route template (`/v1/Fleets/{sid}`), never by the raw path, so the
number of series stays bounded whatever clients send and no label ever carries an account's or
a resource's SID. Served on a port of their own (services/api/metrics_server.py); on the public
API port only when FLEETSTATE_API_PUBLIC_METRICS says so (a dev convenience).
"""

from __future__ import annotations

import time

from litestar import Request, Response, get
from litestar.types import ASGIApp, Receive, Scope, Send
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest

from services.api.errors import ApiError

REQUESTS = Counter(
    "fleetstate_api_requests_total", "HTTP requests answered", ["method", "route", "status"]
)
LATENCY = Histogram(
    "fleetstate_api_request_seconds",
    "Time to answer an HTTP request",
    ["method", "route"],
    buckets=(0.001, 0.002, 0.005, 0.01, 0.02, 0.03, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
COMMANDS = Counter(
    "fleetstate_api_commands_total",
    "Commands sent by the API, by outcome: accepted, a rejection code, pending, unavailable",
    ["command", "outcome"],
)
EVENTS_BEHIND = Gauge(
    "fleetstate_projection_events_behind",
    "Events the projector had still to apply at its last batch",
    ["projection", "topic", "partition"],
)
SECONDS_BEHIND = Gauge(
    "fleetstate_projection_seconds_behind",
    "How long the oldest event of the projector's last batch waited in the log",
    ["projection", "topic", "partition"],
)
LAST_EVENT_AT = Gauge(
    "fleetstate_projection_last_event_timestamp_seconds",
    "When the last applied event was appended to the log",
    ["projection", "topic", "partition"],
)
UPDATED_AT = Gauge(
    "fleetstate_projection_updated_timestamp_seconds",
    "When the projector last committed a batch",
    ["projection", "topic", "partition"],
)


class MetricsMiddleware:
    """Counts and times every HTTP request (a plain ASGI middleware: cheapest per request)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_and_record(message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_record)
        finally:
            route = scope.get("path_template") or "unmatched"
            method = scope["method"]
            REQUESTS.labels(method, route, str(status)).inc()
            LATENCY.labels(method, route).observe(time.perf_counter() - started)


async def _refresh_projection_lag(db) -> None:
    rows = await db.fetch(
        "select projection, topic, partition, events_behind, seconds_behind, "
        "last_event_at, updated_at from projection_offsets"
    )
    for row in rows:
        labels = (row["projection"], row["topic"], str(row["partition"]))
        EVENTS_BEHIND.labels(*labels).set(row["events_behind"])
        SECONDS_BEHIND.labels(*labels).set(row["seconds_behind"])
        if row["last_event_at"] is not None:
            LAST_EVENT_AT.labels(*labels).set(row["last_event_at"].timestamp())
        UPDATED_AT.labels(*labels).set(row["updated_at"].timestamp())


async def render(api) -> bytes:
    """The Prometheus text of this process, with the projection lag read now."""
    try:
        await _refresh_projection_lag(api.db)
    except ApiError:  # the database is down: the request metrics are still worth serving
        pass
    return generate_latest()


@get("/metrics", include_in_schema=False)
async def metrics_endpoint(request: Request) -> Response:
    return Response(await render(request.app.state.api), media_type=CONTENT_TYPE_LATEST)
