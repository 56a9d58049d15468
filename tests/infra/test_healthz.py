"""GET /healthz reports the state of Kafka and Postgres, and says 503 when one is unreachable."""

from __future__ import annotations

import msgspec
from litestar.testing import AsyncTestClient

from services.api.app import create_app


async def test_healthz_is_ok_when_kafka_and_postgres_answer(base_settings):
    async with AsyncTestClient(app=create_app(base_settings)) as client:
        response = await client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["kafka"]["ok"] and body["kafka"]["brokers"] == 1
    assert body["postgres"]["ok"]


async def test_healthz_is_503_and_names_the_component_that_does_not_answer(base_settings):
    # Nothing listens on port 1: the check must fail fast and say so, not hang or 500.
    broken = msgspec.structs.replace(base_settings, kafka_bootstrap="127.0.0.1:1")
    async with AsyncTestClient(app=create_app(broken)) as client:
        response = await client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["kafka"]["ok"] is False and body["kafka"]["error"]
    assert body["postgres"]["ok"] is True
