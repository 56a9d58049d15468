"""Fixtures shared by every test that crosses a boundary: the real Kafka and PostgreSQL of the
dev stack (`devstack/stack.sh start`, which `make test` runs first)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import uuid

import asyncpg
import msgspec
import pytest

from bench.common import command_client as bench_command_client
from events.client import CommandClient
from services.config import Settings, load_settings, with_topic_prefix
from services.migrate import migrate
from services.postgres import drop_database
from services.topics import delete_topics_of, ensure_topics
from tests.services import ServiceProcess


@pytest.fixture(scope="session")
def base_settings() -> Settings:
    return load_settings()


@pytest.fixture
def unique() -> str:
    """A short suffix that keeps one test's topics, groups and databases apart from another's."""
    return uuid.uuid4().hex[:10]


@pytest.fixture
def settings(base_settings: Settings, unique: str):
    """Settings whose topics belong to this test alone; they are deleted after it, so the dev
    broker does not gather thousands of partitions (and minutes of start-up) run after run."""
    prefix = f"test-{unique}"
    yield msgspec.structs.replace(with_topic_prefix(base_settings, prefix), partitions=2)
    # In a thread of its own: this teardown may run where an event loop is still set.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(
            asyncio.run, delete_topics_of(base_settings.kafka_bootstrap, prefix + ".")
        ).result()


def _dsn_for(dsn: str, database: str) -> str:
    return dsn.rsplit("/", 1)[0] + "/" + database


@pytest.fixture
async def database_url(base_settings: Settings, unique: str):
    """A fresh, empty database for this test, dropped afterwards."""
    name = f"test_{unique}"
    admin = await asyncpg.connect(base_settings.database_url)
    await admin.execute(f'create database "{name}"')
    await admin.close()
    yield _dsn_for(base_settings.database_url, name)
    admin = await asyncpg.connect(base_settings.database_url)
    await drop_database(admin, name)
    await admin.close()


@pytest.fixture
async def topics(settings):
    """The test's own topics, created."""
    await ensure_topics(settings)
    return settings


def command_client(settings: Settings) -> CommandClient:
    """A client of every commands topic of `settings`, as the tests' own sender."""
    return bench_command_client(settings, actor="test")


@pytest.fixture
async def client(topics):
    async with command_client(topics) as client:
        yield client


@pytest.fixture
def processor(topics, tmp_path):
    """A `fleetstate processor` child process on the test's topics."""
    process = ServiceProcess("processor", topics, log_path=tmp_path / "processor.log")
    process.start()
    yield process
    process.stop()


@pytest.fixture
async def migrated(database_url):
    """A fresh database with every migration applied; yields its DSN."""
    await migrate(database_url)
    return database_url
