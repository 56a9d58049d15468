"""Applies the ordered SQL files in migrations/ once each, under an advisory lock.

Each applied file is recorded with its SHA-256; a file edited after it was applied is refused,
because the database would no longer match what the file says.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import asyncpg

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"
# Any constant works; it only has to be the same for every process that migrates.
ADVISORY_LOCK_KEY = 0x666C656574  # "fleet"


class MigrationError(RuntimeError):
    pass


@dataclass(frozen=True)
class Migration:
    version: str
    path: Path
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def load_migrations(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    files = sorted(directory.glob("*.sql"))
    return [Migration(f.stem, f, f.read_text()) for f in files]


async def migrate(dsn: str, directory: Path = MIGRATIONS_DIR, schema: str = "public") -> list[str]:
    """Applies pending migrations in order; returns the versions applied now."""
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(f'create schema if not exists "{schema}"')
        await conn.execute(f'set search_path to "{schema}"')
        await conn.execute("select pg_advisory_lock($1)", ADVISORY_LOCK_KEY)
        try:
            return await _apply_pending(conn, load_migrations(directory))
        finally:
            await conn.execute("select pg_advisory_unlock($1)", ADVISORY_LOCK_KEY)
    finally:
        await conn.close()


async def _apply_pending(conn: asyncpg.Connection, migrations: list[Migration]) -> list[str]:
    await conn.execute(
        """create table if not exists schema_migrations (
               version text primary key,
               checksum text not null,
               applied_at timestamptz not null default now())"""
    )
    applied = dict(await conn.fetch("select version, checksum from schema_migrations"))
    done = []
    for migration in migrations:
        recorded = applied.get(migration.version)
        if recorded is not None:
            if recorded != migration.checksum:
                raise MigrationError(
                    f"migration {migration.path.name} was changed after it was applied "
                    f"(recorded sha256 {recorded[:12]}…, file now {migration.checksum[:12]}…); "
                    "add a new migration instead of editing an applied one"
                )
            continue
        async with conn.transaction():
            await conn.execute(migration.sql)
            await conn.execute(
                "insert into schema_migrations (version, checksum) values ($1, $2)",
                migration.version,
                migration.checksum,
            )
        done.append(migration.version)
    return done
