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


class UnsupportedType(ValueError):
    pass


# How a NOT NULL value of each type becomes its field (length + data), as source text over
# `x`: inlined by row_encoder, because a call per field costs a third more per row.
_INLINE = {
    "text": "x = x.encode(); a(_length(len(x))); a(x)",
    "integer": "a(_int4(4, x))",
    "bigint": "a(_int8(8, x))",
    "boolean": "a(_boolean(x))",
    "timestamp with time zone": "a(_timestamptz(x))",
    "jsonb": "x = _json_encode(x); a(_length(len(x) + 1)); a(b'\\x01'); a(x)",
}


def row_encoder(
    columns: Sequence[tuple[str, str, bool]],
) -> Callable[[dict[str, Any]], bytes]:
    """An encoder of row dicts for (column, PostgreSQL data_type, nullable) triples, in COPY
    order. A nullable column missing from a row is NULL. The encoder is compiled once per
    table, one statement per column."""
    unknown = [f"{c} ({t})" for c, t, _ in columns if t not in ENCODERS]
    if unknown:
        raise UnsupportedType(f"no binary COPY encoder for {', '.join(unknown)}")
    lines = ["def encode(row):", "    pieces = [COUNT]", "    a = pieces.append"]
    for column, data_type, nullable in columns:
        lines.append(f"    x = row.get({column!r})")
        if nullable:
            lines.append(f"    if x is None: a(NULL)\n    else: a(ENCODERS[{data_type!r}](x))")
        else:
            lines.append(f"    {_INLINE[data_type]}")
    lines.append("    return b''.join(pieces)")
    namespace = {
        "COUNT": struct.pack(">h", len(columns)),
        "NULL": NULL,
        "ENCODERS": ENCODERS,
        "_length": _length,
        "_int4": _int4,
        "_int8": _int8,
        "_boolean": _boolean,
        "_timestamptz": _timestamptz,
        "_json_encode": _json_encode,
    }
    exec(compile("\n".join(lines), f"<copy encoder of {len(columns)} columns>", "exec"), namespace)
    return namespace["encode"]
