"""One real stack for the API tests: fresh topics and database, `fleetstate processor`,
`fleetstate projector` and `fleetstate api` (uvicorn on a free port) as child processes.

Starting it costs seconds, so the API tests share it (session scope) and keep apart by working
in accounts of their own, which is also what tenant isolation promises them.
"""

from __future__ import annotations

import contextlib
import secrets
import socket
import uuid
from collections.abc import AsyncIterator

import asyncpg
import httpx
import msgspec
import pytest

from events.commands import ProvisionSimCard
from events.sids import OPERATOR_ACCOUNT_SID
from events.usage_client import UsageReporter
from services.config import Settings, load_settings, with_topic_prefix
from services.delivery.sealing import generate_key
from services.migrate import migrate
from services.operator import add_network, command_client, create_account
from services.postgres import drop_database
from services.topics import delete_topics_of, ensure_topics
from tests.api.support import Account, Stack
from tests.projection.support import wait_until_projected
from tests.services import ServiceProcess, serving

# Real carriers (MCC/MNC as assigned); the catalogue is one per stack.
NETWORKS = [
    ("T-Mobile USA", "US", "310", "260"),
    ("AT&T Mobility", "US", "310", "410"),
    ("Vodafone UK", "GB", "234", "15"),
    ("Telekom Deutschland", "DE", "262", "01"),
]
SIM_CARDS = 300  # provisioned up front: a card is registered once, so each test takes its own


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stack_settings(base: Settings, tag: str, port: int) -> Settings:
    return msgspec.structs.replace(
        with_topic_prefix(base, f"test-{tag}"),
        partitions=2,
        database_url=base.database_url.rsplit("/", 1)[0] + f"/test_{tag}",
        api_port=port,
        api_metrics_port=free_port(),
        # Every test client, schemathesis's deliberate wrong credentials included, comes from
        # 127.0.0.1: one address for the whole session. The failed-login limit is tested on
        # apps of its own (test_auth_limits.py); here it would turn later 401s into 429s.
        api_failed_logins_burst=1_000_000,
        # Webhooks: accounts get sealed tokens; the tests' receivers listen on 127.0.0.1.
        token_keys=base.token_keys or generate_key(),
        token_keys_file="",
        webhook_allow="127.0.0.1",
        webhook_retry_base_seconds=0.2,
        webhook_retry_cap_seconds=1.0,
    )


@contextlib.asynccontextmanager
async def stack_world() -> AsyncIterator[Settings]:
    """A stack's own world: `stack_settings` with a fresh database (migrated) and fresh
    topics, both removed afterwards."""
    base = load_settings()
    tag = uuid.uuid4().hex[:10]
    settings = stack_settings(base, tag, free_port())
    admin = await asyncpg.connect(base.database_url)
    await admin.execute(f'create database "test_{tag}"')
    await admin.close()
    try:
        await migrate(settings.database_url)
        await ensure_topics(settings)
        yield settings
    finally:
        admin = await asyncpg.connect(base.database_url)
        await drop_database(admin, f"test_{tag}")
        await admin.close()
        await delete_topics_of(base.kafka_bootstrap, f"test-{tag}.")


@pytest.fixture(scope="session")
async def stack(tmp_path_factory) -> AsyncIterator[Stack]:
    logs = tmp_path_factory.mktemp("api-stack")
    async with stack_world() as settings, serving(settings, logs) as services:
        network_sids = []
        for name, country, mcc, mnc in NETWORKS:
            outcome = await add_network(settings, name, country, mcc, [mnc])
            network_sids.append(outcome.events[0].aggregate_id)
        cards = [
            (f"89{secrets.randbelow(10**17):017d}", secrets.token_hex(5).upper())
            for _ in range(SIM_CARDS)
        ]
        async with command_client(settings) as client:
            await client.execute_many(
                [
                    client.envelope(
                        ProvisionSimCard(iccid=iccid, registration_code=code),
                        account_sid=OPERATOR_ACCOUNT_SID,
                    )
                    for iccid, code in cards
                ],
                timeout=60,
            )
        # Each card is its ICCID's partition's own, decided before its outcome came back: a
        # registration asks that partition, so nothing more needs to be waited for.
        await wait_until_projected(settings, settings.database_url)
        yield Stack(
            settings=settings,
            base_url=f"http://127.0.0.1:{settings.api_port}",
            network_sids=network_sids,
            cards=cards,
            logs=logs,
            make_account=lambda: _account(settings),
            metrics_url=f"http://127.0.0.1:{settings.api_metrics_port}/metrics",
            api_pid=services[2].process.pid,
        )


@pytest.fixture(scope="session")
def usage_services(stack: Stack):
    """The usage processor and the usage projector on the shared stack, started by the first
    test that needs usage (the others do not pay for them)."""
    services = [
        ServiceProcess(name, stack.settings, log_path=stack.logs / f"{name}.log")
        for name in ("usage-processor", "usage-projector")
    ]
    for service in services:
        service.start()
    yield
    for service in reversed(services):
        service.stop()


@pytest.fixture(scope="session")
def device_services(stack: Stack):
    """The network gateway, the network simulator and the webhook delivery on the shared
    stack, started by the first test that sends device commands or expects webhooks."""
    services = [
        ServiceProcess(name, stack.settings, log_path=stack.logs / f"{name}.log")
        for name in ("network-gateway", "network-sim", "delivery")
    ]
    for service in services:
        service.start()
    yield
    for service in reversed(services):
        service.stop()


@pytest.fixture(scope="session")
async def reporter(stack: Stack, usage_services):
    """Publishes data session reports to the stack's usage processor."""
    settings = stack.settings
    async with UsageReporter(settings.kafka_bootstrap, usage_topic=settings.usage_topic) as r:
        yield r


async def _account(settings: Settings) -> Account:
    created = await create_account(settings, "api test")
    return Account(sid=created.account_sid, token=created.auth_token)


@pytest.fixture
async def account(stack: Stack) -> Account:
    return await stack.make_account()


@pytest.fixture
async def other_account(stack: Stack) -> Account:
    return await stack.make_account()


@pytest.fixture
async def api(stack: Stack, account: Account):
    """An HTTP client signed in as `account`."""
    async with httpx.AsyncClient(
        base_url=stack.base_url, auth=(account.sid, account.token), timeout=30
    ) as http:
        yield http


@pytest.fixture
async def other_api(stack: Stack, other_account: Account):
    async with httpx.AsyncClient(
        base_url=stack.base_url, auth=(other_account.sid, other_account.token), timeout=30
    ) as http:
        yield http
