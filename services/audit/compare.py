"""Row-by-row comparison of two schemas' read models, done by PostgreSQL: a full join on each
table's key returns only the rows that differ, so equal tables of millions of rows cost one
hash join and no transfer."""

from __future__ import annotations

from services.audit.differences import RowDifference, row_difference
from services.projection.tables import TABLES, Table


def _differing_rows_sql(table: Table, live: str, replayed: str) -> str:
    on = " and ".join(f"l.{k} = r.{k}" for k in table.key)
    left = ", ".join(f"l.{c}" for c in table.columns)
    right = ", ".join(f"r.{c}" for c in table.columns)
    some_key = table.key[0]
    return (
        f"select l.{some_key} is not null as in_live, r.{some_key} is not null as in_replayed, "
        f"{left}, {right} "
        f'from "{live}".{table.name} l full join "{replayed}".{table.name} r on {on} '
        f"where ({left}) is distinct from ({right}) "
        f"order by {', '.join(f'coalesce(l.{k}, r.{k})' for k in table.key)}"
    )


async def differences(conn, live: str, replayed: str) -> list[RowDifference]:
    """Every row that differs between schema `live` and schema `replayed`, table by table.
    Runs in the caller's transaction, so it sees that transaction's snapshot."""
    found = []
    for table in TABLES:
        n = len(table.columns)
        for row in await conn.fetch(_differing_rows_sql(table, live, replayed)):
            values = tuple(row)
            left = values[2 : 2 + n] if row["in_live"] else None
            right = values[2 + n :] if row["in_replayed"] else None
            difference = row_difference(table, left, right)
            if difference is not None:
                found.append(difference)
    return found
