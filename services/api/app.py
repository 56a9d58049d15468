"""The ASGI application: Litestar, which speaks msgspec natively."""

from __future__ import annotations

from litestar import Litestar
from litestar.datastructures import State

from services.api.health import healthz
from services.config import Settings, load_settings


def create_app(settings: Settings | None = None) -> Litestar:
    settings = settings or load_settings()
    return Litestar(
        route_handlers=[healthz],
        state=State({"settings": settings}),
        openapi_config=None,
    )
