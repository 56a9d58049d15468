"""Writes coalesced row changes to PostgreSQL with asyncpg: a few statements per batch.

Changes arrive coalesced (one per row, but a guarded delete beside an update: see
changes.coalesce), so their order does not matter but for deletes first, and each group of
same-shaped changes becomes one `executemany`: deletes per table and guard, upserts per table,
updates per table and set of columns. Callers run this inside their own transaction.

A row with a version is only ever written by a newer version of its aggregate: partitions are
projected in no particular order among themselves, and a Sim that moved has events in two
(its old account's must not overwrite what its new account's wrote).
"""

from __future__ import annotations

from collections import defaultdict

import asyncpg

from services.projection.changes import Change
from services.projection.tables import Table


def _upsert_sql(table: Table) -> str:
    columns = ", ".join(table.columns)
    params = ", ".join(f"${i}" for i in range(1, len(table.columns) + 1))
    key = ", ".join(table.key)
    rest = [c for c in table.columns if c not in table.key]
    assignments = ", ".join(f"{c} = excluded.{c}" for c in rest)
    newer = f" where {table.name}.version < excluded.version" if "version" in table.columns else ""
    return (
        f"insert into {table.name} ({columns}) values ({params}) "
        f"on conflict ({key}) do update set {assignments}{newer}"
    )


def _update_sql(table: Table, columns: tuple[str, ...]) -> str:
    n = len(table.key)
    assignments = ", ".join(f"{c} = ${n + i}" for i, c in enumerate(columns, 1))
    where = " and ".join(f"{k} = ${i}" for i, k in enumerate(table.key, 1))
    if "version" in columns:
        where += f" and version < ${n + 1 + columns.index('version')}"
    return f"update {table.name} set {assignments} where {where}"


def _delete_sql(table: Table, guard: tuple[str, ...]) -> str:
    columns = (*table.key, *guard)  # the key, and the values the row must still have
    where = " and ".join(f"{c} = ${i}" for i, c in enumerate(columns, 1))
    return f"delete from {table.name} where {where}"


async def write_changes(conn: asyncpg.Connection, coalesced: list[Change]) -> None:
    # Deletes first: a guarded delete kept beside an update of its row must come before it.
    coalesced = sorted(coalesced, key=lambda change: change.kind != "delete")
    statements: dict[str, list[tuple]] = defaultdict(list)
    for change in coalesced:
        table = change.table
        if change.kind == "upsert":
            row = tuple(change.values.get(c) for c in table.columns)
            statements[_upsert_sql(table)].append(row)
        elif change.kind == "update":
            columns = tuple(sorted(change.values))
            row = (*change.key, *(change.values[c] for c in columns))
            statements[_update_sql(table, columns)].append(row)
        else:
            guard = tuple(sorted(change.values))
            row = (*change.key, *(change.values[c] for c in guard))
            statements[_delete_sql(table, guard)].append(row)
    for sql, rows in statements.items():
        await conn.executemany(sql, rows)
