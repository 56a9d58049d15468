"""What differs between a row of the live schema and the same row of a replay (pure)."""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from services.projection.tables import Table


class ColumnDifference(msgspec.Struct, frozen=True):
    column: str
    live: Any
    replayed: Any


class RowDifference(msgspec.Struct, frozen=True, kw_only=True):
    table: str
    key: dict[str, Any]
    kind: Literal["only_live", "only_replayed", "differs"]
    columns: list[ColumnDifference]  # "differs": the columns that differ; otherwise the row

    def describe(self) -> str:
        key = ", ".join(f"{k}={v}" for k, v in self.key.items())
        if self.kind == "only_live":
            return f"{self.table} [{key}]: in the live schema only"
        if self.kind == "only_replayed":
            return f"{self.table} [{key}]: in the replay only"
        changed = "; ".join(
            f"{c.column}: live {c.live!r}, replay {c.replayed!r}" for c in self.columns
        )
        return f"{self.table} [{key}]: {changed}"


def row_difference(
    table: Table, live: tuple | None, replayed: tuple | None
) -> RowDifference | None:
    """None when both rows are equal (or both missing); rows hold `table.columns` in order."""
    if live == replayed:
        return None
    either = live if live is not None else replayed
    key = {column: either[table.columns.index(column)] for column in table.key}
    if live is None or replayed is None:
        kind = "only_live" if replayed is None else "only_replayed"
        columns = [
            ColumnDifference(c, _at(live, i), _at(replayed, i)) for i, c in enumerate(table.columns)
        ]
        return RowDifference(table=table.name, key=key, kind=kind, columns=columns)
    columns = [
        ColumnDifference(column, a, b)
        for column, a, b in zip(table.columns, live, replayed, strict=True)
        if a != b
    ]
    return RowDifference(table=table.name, key=key, kind="differs", columns=columns)


def _at(row: tuple | None, index: int) -> Any:
    return None if row is None else row[index]
