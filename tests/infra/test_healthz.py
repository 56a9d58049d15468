"""/livez says the process answers (no I/O); /readyz (and /healthz, its older name) report the
state of Kafka and Postgres as the API's own connections see them, and 503 when one is
unreachable."""

from __future__ import annotations

import asyncio

import msgspec
from litestar.testing import AsyncTestClient

from services.api.app import create_app


def app_settings(base_settings, **changes):
    return msgspec.structs.replace(base_settings, api_metrics_port=0, **changes)


async def test_readyz_and_healthz_are_ok_once_kafka_and_postgres_answer(topics):
    async with AsyncTestClient(app=create_app(app_settings(topics))) as client:
        async with asyncio.timeout(30):  # the command client connects in the background
            while True:
                response = await client.get("/readyz")
                if response.status_code == 200:
                    break
                await asyncio.sleep(0.1)
        healthz = await client.get("/healthz")
    assert healthz.status_code == 200
    for body in (response.json(), healthz.json()):
        assert body["status"] == "ok"
        assert body["kafka"]["ok"] and body["kafka"]["brokers"] == 1
        assert body["postgres"]["ok"]


async def test_readyz_is_503_and_names_the_component_that_does_not_answer(base_settings):
    # Nothing listens on port 1: the check must say so at once, not hang or 500.
    broken = app_settings(base_settings, kafka_bootstrap="127.0.0.1:1")
    async with AsyncTestClient(app=create_app(broken)) as client:
        response = await client.get("/readyz")
        assert (await client.get("/healthz")).status_code == 503
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["kafka"]["ok"] is False and body["kafka"]["error"]
    assert body["postgres"]["ok"] is True


async def test_livez_answers_whatever_kafka_and_postgres_do(base_settings):
    dsn = base_settings.database_url.rsplit("@", 1)[0] + "@127.0.0.1:1/fleetstate"
    broken = app_settings(base_settings, kafka_bootstrap="127.0.0.1:1", database_url=dsn)
    async with AsyncTestClient(app=create_app(broken)) as client:
        assert (await client.get("/readyz")).status_code == 503
        live = await client.get("/livez")
    assert live.status_code == 200 and live.json() == {"status": "ok"}
