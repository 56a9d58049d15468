"""Rows in PostgreSQL's binary COPY format, byte for byte (PostgreSQL reading them back is
checked by every replay test)."""

from __future__ import annotations

import struct
from datetime import datetime, timedelta, timezone

import pytest

from services.audit.copy_binary import HEADER, TRAILER, UnsupportedType, row_encoder


def test_each_type_is_written_as_its_length_and_its_binary_form():
    encode = row_encoder(
        [
            ("name", "text", False),
            ("n", "integer", False),
            ("offset", "bigint", False),
            ("flag", "boolean", False),
            ("at", "timestamp with time zone", False),
            ("doc", "jsonb", False),
            ("maybe", "text", True),
        ]
    )
    # Two hours after the PostgreSQL epoch, given in another zone: the zone is honoured.
    at = datetime(2000, 1, 1, 3, 0, 0, 5, tzinfo=timezone(timedelta(hours=1)))
    row = {"name": "é", "n": -2, "offset": 2**40, "flag": True, "at": at, "doc": {"a": [1]}}
    assert encode(row) == b"".join(
        [
            struct.pack(">h", 7),
            struct.pack(">i", 2) + "é".encode(),
            struct.pack(">ii", 4, -2),
            struct.pack(">iq", 8, 2**40),
            struct.pack(">i", 1) + b"\x01",
            struct.pack(">iq", 8, 2 * 3600 * 1_000_000 + 5),
            struct.pack(">i", 10) + b'\x01{"a":[1]}',
            struct.pack(">i", -1),  # NULL: missing from the row
        ]
    )


def test_the_stream_frame_is_the_signature_flags_and_trailer():
    assert HEADER == b"PGCOPY\n\xff\r\n\x00" + bytes(8)
    assert TRAILER == b"\xff\xff"


def test_a_type_without_an_encoder_is_refused_before_any_row_is_written():
    with pytest.raises(UnsupportedType, match="ratio .numeric."):
        row_encoder([("ratio", "numeric", False)])
