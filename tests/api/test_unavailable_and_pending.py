"""When Kafka or PostgreSQL is down: 503 20503, nothing changed, and recovery by itself.
When a write is still being processed as the wait ends: 202 with what is known.

Each test runs an API of its own (`fleetstate api`, a child process) with settings that point
one dependency somewhere else; the shared stack keeps running. A test that writes waits until
its API says it is ready (/readyz: its command client has connected to Kafka): an API serves
before that, answering writes 503, and how long connecting takes is no one's guess.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from urllib.parse import urlsplit

import httpx
import msgspec

from services.topics import ensure_topics
from tests.api.conftest import free_port
from tests.api.proxy import TcpProxy
from tests.api.support import (
    assert_error,
    create_fleet,
    create_profile,
    register_sim,
)
from tests.api.test_tenants_and_idempotency import _events_of
from tests.services import ServiceProcess


@contextlib.asynccontextmanager
async def in_process(stack, account, *, ready: bool = True, **changes):
    """Another `fleetstate api` with `changes` to the stack's settings, and a client of it, once
    it is ready (`until_ready`); with `ready=False` (a dependency it cannot reach) once it serves
    its OpenAPI, which needs neither Kafka nor PostgreSQL."""
    changes.setdefault("api_metrics_port", free_port())  # never the stack API's own
    settings = msgspec.structs.replace(stack.settings, api_port=free_port(), **changes)
    process = ServiceProcess("api", settings, log_path=stack.logs / f"api-{settings.api_port}.log")
    process.start()
    base_url = f"http://127.0.0.1:{settings.api_port}"
    try:
        async with httpx.AsyncClient(
            base_url=base_url, auth=(account.sid, account.token), timeout=30
        ) as client:
            await (until_ready(client) if ready else until_serving(client))
            yield client
    finally:
        process.stop()


async def until_answered(client: httpx.AsyncClient, path: str) -> None:
    """Until the child process answers 200 at `path` (it is still starting, or its probe says
    no)."""
    async with asyncio.timeout(30):
        while True:
            with contextlib.suppress(httpx.TransportError):
                if (await client.get(path)).status_code == 200:
                    return
            await asyncio.sleep(0.1)


async def until_serving(client: httpx.AsyncClient) -> None:
    await until_answered(client, "/openapi.json")


async def until_ready(client: httpx.AsyncClient) -> None:
    """Until a write can be served: the command client connected to Kafka, PostgreSQL
    answering."""
    await until_answered(client, "/readyz")


async def test_with_kafka_unreachable_writes_are_503_and_nothing_changes_while_reads_work(
    stack, api, account
):
    await create_profile(api, UniqueName="nap")
    before = await _events_of(stack, account.sid)
    async with in_process(stack, account, ready=False, kafka_bootstrap="127.0.0.1:1") as client:
        body = assert_error(
            await client.post("/v1/Fleets", data={"NetworkAccessProfile": "nap"}), 503, 20503
        )
        assert "nothing was changed" in body["message"]
        assert_error(await client.post("/v1/NetworkAccessProfiles/nap", data={}), 503, 20503)
        listed = await client.get("/v1/NetworkAccessProfiles")
        assert listed.status_code == 200 and len(listed.json()["network_access_profiles"]) == 1
    assert await _events_of(stack, account.sid) == before


async def test_with_postgres_unreachable_requests_are_503_not_500(stack, account):
    port = urlsplit(stack.settings.database_url).port  # whatever port the stack's is
    dsn = stack.settings.database_url.replace(f":{port}/", ":1/")
    metrics_port = free_port()
    async with in_process(
        stack, account, ready=False, database_url=dsn, api_metrics_port=metrics_port
    ) as client:
        assert_error(await client.get("/v1/Fleets"), 503, 20503)
        assert_error(
            await client.post("/v1/Fleets", data={"NetworkAccessProfile": "x"}), 503, 20503
        )
        metrics = await client.get(f"http://127.0.0.1:{metrics_port}/metrics")
        assert metrics.status_code == 200


async def test_the_api_recovers_by_itself_when_postgres_returns(stack, api, account):
    await create_profile(api, UniqueName="nap")
    url = urlsplit(stack.settings.database_url)
    proxy = TcpProxy(url.hostname, url.port, free_port())
    dsn = stack.settings.database_url.replace(f":{url.port}/", f":{proxy.port}/")
    await proxy.up()
    try:
        async with in_process(stack, account, database_url=dsn) as client:
            assert (await client.get("/v1/NetworkAccessProfiles/nap")).status_code == 200
            await proxy.down()
            assert_error(await client.get("/v1/NetworkAccessProfiles/nap"), 503, 20503)
            await proxy.up()
            response = await client.get("/v1/NetworkAccessProfiles/nap")
            assert response.status_code == 200, response.text
    finally:
        await proxy.down()


async def test_the_api_connects_to_kafka_by_itself_once_it_answers(stack, api, account):
    await create_profile(api, UniqueName="nap")
    host, port = stack.settings.kafka_bootstrap.split(":")
    proxy = TcpProxy(host, int(port), free_port())
    try:
        bootstrap = f"127.0.0.1:{proxy.port}"
        async with in_process(stack, account, ready=False, kafka_bootstrap=bootstrap) as client:
            form = {"NetworkAccessProfile": "nap"}
            assert_error(await client.post("/v1/Fleets", data=form), 503, 20503)
            await proxy.up()
            await until_ready(client)  # it connected by itself
            response = await client.post("/v1/Fleets", data=form)
            assert response.status_code == 201, response.text
    finally:
        await proxy.down()


async def test_a_sim_change_not_yet_projected_when_the_wait_ends_is_202_scheduled(
    stack, api, account
):
    await create_profile(api, UniqueName="nap")
    await create_fleet(api, "nap", UniqueName="fleet")
    sim = await register_sim(api, stack)
    # This API waits for a projection of another topic, which never comes: its wait ends.
    async with in_process(
        stack, account, events_topic=f"unprojected-{uuid.uuid4().hex[:6]}", api_write_timeout=1.0
    ) as client:
        response = await client.post(
            f"/v1/Sims/{sim['sid']}", data={"Fleet": "fleet", "Status": "active"}
        )
    assert response.status_code == 202, response.text
    assert response.json()["status"] == "scheduled" and response.json()["sid"] == sim["sid"]
    async with asyncio.timeout(10):  # the change was made all the same
        while (await api.get(f"/v1/Sims/{sim['sid']}")).json()["status"] != "active":  # noqa: ASYNC110 - polls another process
            await asyncio.sleep(0.1)


async def test_a_create_not_decided_when_the_wait_ends_is_202_with_its_final_sid(
    stack, api, account
):
    await create_profile(api, UniqueName="nap")
    tag = uuid.uuid4().hex[:6]
    undecided = msgspec.structs.replace(
        stack.settings,
        commands_topic=f"undecided-{tag}.commands",
        outcomes_topic=f"undecided-{tag}.outcomes",
    )
    await ensure_topics(undecided)  # a bus no processor reads
    async with in_process(
        stack,
        account,
        commands_topic=undecided.commands_topic,
        outcomes_topic=undecided.outcomes_topic,
        api_write_timeout=1.0,
    ) as client:
        response = await client.post("/v1/Fleets", data={"NetworkAccessProfile": "nap"})
        own_base = str(client.base_url).rstrip("/")
    assert response.status_code == 202, response.text
    body = response.json()
    assert set(body) == {"sid", "account_sid", "url"} and body["sid"].startswith("HF")
    assert body["url"] == f"{own_base}/v1/Fleets/{body['sid']}"
