"""Migrations apply once, in order, under a lock; an edited applied migration is refused."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from services.migrate import MIGRATIONS_DIR, MigrationError, migrate


async def test_migrations_apply_once_and_a_second_run_is_a_no_op(database_url):
    first = await migrate(database_url)
    assert first == sorted(p.stem for p in MIGRATIONS_DIR.glob("*.sql"))
    assert await migrate(database_url) == []
    conn = await asyncpg.connect(database_url)
    try:
        recorded = await conn.fetchval("select count(*) from schema_migrations")
    finally:
        await conn.close()
    assert recorded == len(first)


async def test_concurrent_migrators_apply_each_file_once(database_url):
    results = await asyncio.gather(*(migrate(database_url) for _ in range(4)))
    applied = [version for result in results for version in result]
    assert sorted(applied) == sorted(p.stem for p in MIGRATIONS_DIR.glob("*.sql"))


async def test_a_migration_edited_after_it_was_applied_is_refused(database_url, tmp_path):
    (tmp_path / "0001_first.sql").write_text("create table t (id int);")
    assert await migrate(database_url, tmp_path) == ["0001_first"]
    (tmp_path / "0001_first.sql").write_text("create table t (id bigint);")
    with pytest.raises(MigrationError, match="0001_first.sql was changed"):
        await migrate(database_url, tmp_path)


async def test_a_failing_migration_leaves_nothing_half_applied(database_url, tmp_path):
    (tmp_path / "0001_bad.sql").write_text("create table t (id int); select no_such_function();")
    with pytest.raises(asyncpg.PostgresError):
        await migrate(database_url, tmp_path)
    conn = await asyncpg.connect(database_url)
    try:
        assert await conn.fetchval("select to_regclass('t')") is None
        assert await conn.fetchval("select count(*) from schema_migrations") == 0
    finally:
        await conn.close()
