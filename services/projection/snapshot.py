"""Every read-model row of a schema, in key order: what replay --verify and the tests compare."""

from __future__ import annotations

import asyncpg

from services.projection.tables import TABLES, Table


async def table_rows(conn: asyncpg.Connection, schema: str, table: Table) -> list[tuple]:
    columns = ", ".join(table.columns)
    order = ", ".join(table.key)
    rows = await conn.fetch(f'select {columns} from "{schema}".{table.name} order by {order}')
    return [tuple(row) for row in rows]


async def snapshot(conn: asyncpg.Connection, schema: str = "public") -> dict[str, list[tuple]]:
    return {table.name: await table_rows(conn, schema, table) for table in TABLES}
