"""Fixtures shared by every test that crosses a boundary: the real Kafka and PostgreSQL of the
dev stack (`devstack/stack.sh start`, which `make test` runs first)."""

from __future__ import annotations

import uuid

import asyncpg
import msgspec
import pytest

from services.config import Settings, load_settings


@pytest.fixture(scope="session")
def base_settings() -> Settings:
    return load_settings()


@pytest.fixture
def unique() -> str:
    """A short suffix that keeps one test's topics, groups and databases apart from another's."""
    return uuid.uuid4().hex[:10]


@pytest.fixture
def settings(base_settings: Settings, unique: str) -> Settings:
    """Settings whose topics belong to this test alone."""
    return msgspec.structs.replace(
        base_settings,
        commands_topic=f"test-{unique}.commands",
        events_topic=f"test-{unique}.events",
        outcomes_topic=f"test-{unique}.outcomes",
        dlq_topic=f"test-{unique}.commands.dlq",
        partitions=2,
    )


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
    await admin.execute(f'drop database if exists "{name}" with (force)')
    await admin.close()
