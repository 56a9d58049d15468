"""Which commands a partition answered within the de-duplication horizon, and where each one's
first outcome is in the outcomes partition.

Exact inside the horizon, small per id: an entry is a 64-bit hash of (account, command id)
and the offset of the first outcome, in a dict per hour (about 100 bytes an id, measured by
bench/bench_recovery.py). A retry is answered by reading its first outcome back at that offset;
two ids whose hashes collide are told apart there (the outcome names its command), so a
collision costs a read, never a wrong answer, and both stay remembered.

Time is the broker's: the command record's timestamp (the commands topic stamps append time),
so the horizon does not depend on any sender's clock. An id answered at time T is kept until
the partition has seen commands stamped later than T + horizon (rounded up to the hour, plus
the tolerance for senders' clocks): a command issued at most `horizon` before it reached the
broker, a retry included, is always found. One issued longer ago than that is refused by the
processor as too old, never decided (see partition.py).

In the changelog, each batch's new entries are one packed record per hour (`d/<hour>/<seq>`),
deleted when their hour leaves the horizon.
"""

from __future__ import annotations

import struct
import sys
from array import array
from hashlib import blake2b

HOUR_MS = 3_600_000
# A command issued this far ahead of the broker's clock is refused: it could otherwise ask to
# be remembered for longer than the horizon.
FUTURE_TOLERANCE_MS = 15 * 60_000
PACK_PREFIX = b"d/"
_BIG_ENDIAN = sys.byteorder == "big"
_PACK_KEY = struct.Struct(">qq")  # hour start, sequence


def command_key(account_sid: str, command_id: str, sender: str = "tenant") -> int:
    """The signed 64-bit hash an id is remembered by: ids of each kind of sender apart, so a
    tenant cannot make an operator's or a process's command look answered already."""
    text = f"{account_sid}\x00{command_id}"
    if sender != "tenant":  # tenants' keys stay what they were before senders had topics
        text = f"{sender}\x00{text}"
    digest = blake2b(text.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


class CommandMemory:
    def __init__(self, horizon_ms: int) -> None:
        self.horizon_ms = horizon_ms
        self.hours: dict[int, dict[int, int | list[int]]] = {}  # hour -> key -> offset(s)
        self.packs: dict[int, list[bytes]] = {}  # hour -> its pack keys in the changelog
        self._seq = 0

    def __len__(self) -> int:
        return sum(len(entries) for entries in self.hours.values())

    def offsets(self, key: int) -> list[int]:
        """Offsets of the first outcomes of every remembered command with this hash."""
        found: list[int] = []
        for entries in self.hours.values():
            offset = entries.get(key)
            if offset is not None:
                found.extend(offset if isinstance(offset, list) else (offset,))
        return found

    def remember(self, key: int, offset: int, at_ms: int) -> None:
        hour = at_ms - at_ms % HOUR_MS
        entries = self.hours.setdefault(hour, {})
        known = entries.get(key)
        if known is None:
            entries[key] = offset
        elif isinstance(known, list):
            known.append(offset)
        elif known != offset:
            entries[key] = [known, offset]  # a hash collision: keep both

    def expire(self, stream_time_ms: int) -> list[bytes]:
        """Forgets the hours that left the horizon; returns their pack keys (to delete)."""
        gone = []
        for hour in list(self.hours):
            if hour + HOUR_MS + self.horizon_ms + FUTURE_TOLERANCE_MS <= stream_time_ms:
                del self.hours[hour]
                gone.extend(self.packs.pop(hour, ()))
        return gone

    # --- the changelog ---------------------------------------------------------------------

    def pack(self, entries: list[tuple[int, int, int]]) -> dict[bytes, bytes]:
        """Changelog records for entries (key, offset, at_ms) remembered since the last pack."""
        by_hour: dict[int, array] = {}
        for key, offset, at_ms in entries:
            hour = at_ms - at_ms % HOUR_MS
            by_hour.setdefault(hour, array("q")).extend((key, offset))
        records = {}
        for hour, values in by_hour.items():
            if hour not in self.hours:
                continue  # already out of the horizon
            if _BIG_ENDIAN:
                values.byteswap()  # packs are little-endian on every machine
            self._seq += 1
            name = PACK_PREFIX + _PACK_KEY.pack(hour, self._seq)
            self.packs.setdefault(hour, []).append(name)
            records[name] = values.tobytes()
        return records

    def load(self, name: bytes, packed: bytes) -> None:
        """Restores one pack record."""
        hour, seq = _PACK_KEY.unpack(name[len(PACK_PREFIX) :])
        self._seq = max(self._seq, seq)
        self.packs.setdefault(hour, []).append(name)
        values = array("q")
        values.frombytes(packed)
        if _BIG_ENDIAN:
            values.byteswap()
        entries = dict(zip(values[0::2], values[1::2], strict=True))
        known = self.hours.setdefault(hour, {})
        if len(entries) == len(values) // 2 and not (known.keys() & entries.keys()):
            known.update(entries)  # the common case, at C speed
            return
        for i in range(0, len(values), 2):  # a collision somewhere: one entry at a time
            self.remember(values[i], values[i + 1], hour)
