"""The ASGI application: Litestar, which speaks msgspec natively.

The lifespan makes the process's shared parts once: the PostgreSQL pool, the CommandClient
(connected in the background, so the API starts while Kafka is down) and the projection waiter.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from litestar import Litestar, Response, route
from litestar.datastructures import State
from litestar.enums import HttpMethod
from litestar.handlers import HTTPRouteHandler

from services.api import (
    audit_routes,
    billing_periods,
    device_commands,
    esim_profiles,
    fleets,
    ip_addresses,
    networks,
    profiles,
    settings_updates,
    sims,
    usage_records,
)
from services.api.context import Api
from services.api.errors import EXCEPTION_HANDLERS, MAX_BODY_BYTES
from services.api.health import livez, readyz
from services.api.metrics import MetricsMiddleware, metrics_endpoint
from services.api.metrics_server import start_metrics_server
from services.api.openapi import openapi_document
from services.api.tracing import TracingMiddleware
from services.config import Settings, load_settings

ROUTES = [
    profiles.create_profile,
    profiles.list_profiles,
    profiles.fetch_profile,
    profiles.update_profile,
    profiles.add_network,
    profiles.list_profile_networks,
    profiles.fetch_profile_network,
    profiles.remove_network,
    networks.list_networks,
    networks.fetch_network,
    fleets.create_fleet,
    fleets.list_fleets,
    fleets.fetch_fleet,
    fleets.update_fleet,
    sims.register_sim,
    sims.list_sims,
    sims.fetch_sim,
    sims.update_sim,
    usage_records.list_usage_records,
    billing_periods.list_billing_periods,
    ip_addresses.list_sim_ip_addresses,
    device_commands.send_sms_command,
    device_commands.list_sms_commands,
    device_commands.fetch_sms_command,
    device_commands.send_ip_command,
    device_commands.list_ip_commands,
    device_commands.fetch_ip_command,
    settings_updates.list_settings_updates,
    esim_profiles.create_esim_profile,
    esim_profiles.list_esim_profiles,
    esim_profiles.fetch_esim_profile,
    *audit_routes.ROUTES,
]


def with_options(handlers: Sequence[HTTPRouteHandler]) -> list[HTTPRouteHandler]:
    """`handlers` and an OPTIONS handler for each of their paths, whose `Allow` names every
    method the path serves. Litestar 2 makes its own, but binds it to the first handler
    registered on the path, so GET and POST /v1/Fleets answered `Allow: OPTIONS, POST`
    (litestar-org/litestar#4169, fixed only in Litestar 3)."""
    methods: dict[str, set[str]] = defaultdict(set)
    for handler in handlers:
        for path in handler.paths:
            methods[path] |= handler.http_methods
    # First, so that Litestar finds an OPTIONS handler on each path and makes none of its own.
    return [*(_options(path, {*m, "OPTIONS"}) for path, m in methods.items()), *handlers]


def _options(path: str, methods: set[str]) -> HTTPRouteHandler:
    allow = ", ".join(sorted(methods))

    @route(path, http_method=HttpMethod.OPTIONS, include_in_schema=False, sync_to_thread=False)
    def options() -> Response:
        return Response(None, status_code=204, headers={"Allow": allow})

    return options


def create_app(settings: Settings | None = None) -> Litestar:
    settings = settings or load_settings()
    api = Api(settings)

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        metrics = None
        if settings.api_metrics_port:  # a port that is taken stops the start, as it should
            metrics = await start_metrics_server(
                api, settings.api_metrics_host, settings.api_metrics_port
            )
        await api.start()
        try:
            yield
        finally:
            await api.stop()
            if metrics is not None:
                metrics.close()
                await metrics.wait_closed()

    # /metrics on the public port only when a developer asks for it: they name routes and
    # volumes that are nobody else's business.
    public_metrics = [metrics_endpoint] if settings.api_public_metrics else []
    return Litestar(
        route_handlers=with_options([livez, readyz, *public_metrics, openapi_document, *ROUTES]),
        state=State({"settings": settings, "api": api}),
        lifespan=[lifespan],
        exception_handlers=EXCEPTION_HANDLERS,
        # Tracing inside the metrics: the metrics time the request, span included.
        middleware=[MetricsMiddleware, TracingMiddleware],
        openapi_config=None,  # ours is served at /openapi.json (services/api/openapi.py)
        # Logging is the command line's (`fleetstate -v`); Litestar's default would turn the
        # root logger to INFO and add a queue thread to every process.
        logging_config=None,
        request_max_body_size=MAX_BODY_BYTES,
    )
