"""Two real stacks of child processes (processor, projector, api, usage processor) on fresh
topics and databases: one exporting its spans over OTLP/HTTP to a receiver in this process,
one with no exporter configured, whose every HTTP request would go through a receiver posing
as its proxy. Each is started once for the module's tests, which keep apart by account."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import msgspec
import pytest

from services.config import Settings
from services.operator import create_account
from tests.api.conftest import stack_world
from tests.api.support import Account
from tests.services import ServiceProcess, serving
from tests.tracing.receiver import OtlpReceiver

SERVICES = ("processor", "projector", "api", "usage-processor")
# Spans are sent a moment after they end, not after the default 5 s.
QUICK_EXPORT = {"OTEL_BSP_SCHEDULE_DELAY": "50"}
OTEL_ENDPOINTS = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
PROXIES = ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")


class TracedStack(msgspec.Struct):
    settings: Settings
    base_url: str
    receiver: OtlpReceiver
    services: list[ServiceProcess]

    async def account(self) -> Account:
        created = await create_account(self.settings, "tracing test")
        return Account(sid=created.account_sid, token=created.auth_token)

    def stop_services(self) -> None:
        """SIGTERM and wait: each service has flushed (or dropped) its spans when it is gone."""
        for service in reversed(self.services):
            service.stop()


async def _stack(tmp_path_factory, receiver: OtlpReceiver, env: dict[str, str], unset=()):
    logs = tmp_path_factory.mktemp("tracing-stack")
    try:
        async with (
            stack_world() as settings,
            serving(settings, logs, SERVICES, env=env, unset=unset) as services,
        ):
            yield TracedStack(settings, f"http://127.0.0.1:{settings.api_port}", receiver, services)
    finally:
        receiver.stop()


@pytest.fixture(scope="module")
async def traced(tmp_path_factory) -> AsyncIterator[TracedStack]:
    """Every service exports its spans to the receiver."""
    receiver = OtlpReceiver().start()
    env = {**QUICK_EXPORT, "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url}
    async for stack in _stack(tmp_path_factory, receiver, env, unset=PROXIES):
        yield stack


@pytest.fixture(scope="module")
async def untraced(tmp_path_factory) -> AsyncIterator[TracedStack]:
    """No exporter configured (the default), every HTTP request of a service sent through the
    receiver as its proxy: an exporter, wherever it sent its spans, would be seen."""
    receiver = OtlpReceiver().start()
    env = {**QUICK_EXPORT, **dict.fromkeys(PROXIES, receiver.url), "NO_PROXY": "", "no_proxy": ""}
    async for stack in _stack(tmp_path_factory, receiver, env, unset=OTEL_ENDPOINTS):
        yield stack


def proxied_environment(receiver: OtlpReceiver) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in OTEL_ENDPOINTS}
    env.update(dict.fromkeys(PROXIES, receiver.url), NO_PROXY="", no_proxy="", **QUICK_EXPORT)
    return env
