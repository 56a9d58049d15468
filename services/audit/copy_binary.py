"""Rows in PostgreSQL's binary COPY format (pure): what replay's workers send, so the process
that holds the database connection only forwards bytes.

The format: a header, then per row a 16-bit field count and per field a 32-bit length (-1 for
NULL) and the value in the type's binary form; a 16-bit -1 ends the data. Only the types the
read models use have an encoder; any other is refused up front rather than written wrong.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from operator import itemgetter
from typing import Any

import msgspec

HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)  # no OIDs, no extension
TRAILER = struct.pack(">h", -1)
NULL = struct.pack(">i", -1)
_PG_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)

_length = struct.Struct(">i").pack
_int4 = struct.Struct(">ii").pack
_int8 = struct.Struct(">iq").pack
_json_encode = msgspec.json.Encoder().encode


def _text(value: str) -> bytes:
    data = value.encode()
    return _length(len(data)) + data


def _integer(value: int) -> bytes:
    return _int4(4, value)


def _bigint(value: int) -> bytes:
    return _int8(8, value)


def _boolean(value: bool) -> bytes:
    return b"\x00\x00\x00\x01\x01" if value else b"\x00\x00\x00\x01\x00"


def _timestamptz(value: datetime) -> bytes:
    since = value - _PG_EPOCH  # an aware datetime: the difference is in UTC
    return _int8(8, (since.days * 86_400 + since.seconds) * 1_000_000 + since.microseconds)


def _jsonb(value: Any) -> bytes:
    data = _json_encode(value)
    return _length(len(data) + 1) + b"\x01" + data  # jsonb's binary form: version 1, text


ENCODERS: dict[str, Callable[[Any], bytes]] = {
    "text": _text,
    "integer": _integer,
    "bigint": _bigint,
    "boolean": _boolean,
    "timestamp with time zone": _timestamptz,
    "jsonb": _jsonb,
}


_NAMES = {data_type: "_encode_" + data_type.replace(" ", "_") for data_type in ENCODERS}


class UnsupportedType(ValueError):
    pass


def row_encoder(
    columns: Sequence[tuple[str, str, bool]],
) -> Callable[[dict[str, Any]], bytes]:
    """An encoder of row dicts for (column, PostgreSQL data_type, nullable) triples, in COPY
    order; a column missing from a row is NULL. It is compiled once per table into one
    expression per field (a loop with a call per field costs half as much again per row)."""
    unknown = [f"{c} ({t})" for c, t, _ in columns if t not in ENCODERS]
    if unknown:
        raise UnsupportedType(f"no binary COPY encoder for {', '.join(unknown)}")
    prepare, pieces = [], ["COUNT"]
    for i, (_, data_type, nullable) in enumerate(columns):
        v = f"v{i}"
        encoder = _NAMES[data_type]
        if nullable:
            pieces.append(f"NULL if {v} is None else {encoder}({v})")
        elif data_type == "text":  # most fields: encoded inline, length then bytes
            prepare.append(f"    {v} = {v}.encode()")
            pieces += [f"_length(len({v}))", v]
        elif data_type == "jsonb":
            prepare.append(f"    {v} = _json_encode({v})")
            pieces += [f"_length(len({v}) + 1)", "b'\\x01'", v]
        elif data_type == "integer":
            pieces.append(f"_int4(4, {v})")
        elif data_type == "bigint":
            pieces.append(f"_int8(8, {v})")
        else:
            pieces.append(f"{encoder}({v})")
    values = ", ".join(f"v{i}" for i in range(len(columns)))
    source = "\n".join(
        [
            "def encode(row):",
            f"    {values}, = values_of(row)",
            *prepare,
            f"    return b''.join(({', '.join(pieces)},))",
        ]
    )
    namespace = {
        "values_of": _values_of([column for column, _, _ in columns]),
        "COUNT": struct.pack(">h", len(columns)),
        "NULL": NULL,
        "_length": _length,
        "_int4": _int4,
        "_int8": _int8,
        "_json_encode": _json_encode,
        **{name: ENCODERS[data_type] for data_type, name in _NAMES.items()},
    }
    exec(compile(source, f"<copy encoder of {len(columns)} columns>", "exec"), namespace)
    return namespace["encode"]


def _values_of(columns: list[str]) -> Callable[[dict[str, Any]], tuple]:
    """The row's values in column order, None for a missing one, in one call per row."""
    getter = itemgetter(*columns)

    def values(row: dict[str, Any]) -> tuple:
        try:
            found = getter(row)
        except KeyError:
            found = tuple(row.get(column) for column in columns)
        return found if len(columns) > 1 else (found,)

    return values
