"""The tamper-evidence chain of the events log, checked link by link (pure: bytes in, findings
out).

The processor (services/processor/partition.py) stamps every event with `prev_hash`: the
SHA-256, in hex, of the exact bytes stored as the value of the event before it in the same
partition, or GENESIS_HASH for a partition's first event. So every stored byte of an event is
covered by the next event's prev_hash: changing a byte of an event, dropping one, inserting
one or reordering two breaks the link to the event that follows. The newest event of a
partition has no successor yet; a checkpoint (the head hashes a previous run recorded) covers
it, and the next event appended covers it too.

Only what the chain needs is decoded (event_id, account_sid, prev_hash), so an event of a
newer schema than this reader knows still verifies.
"""

from __future__ import annotations

import msgspec

from events.chain import GENESIS_HASH, link_hash


class _Linked(msgspec.Struct, gc=False):
    event_id: str | None = None
    account_sid: str | None = None
    prev_hash: str | None = None


_decoder = msgspec.json.Decoder(_Linked)


class BrokenLink(msgspec.Struct, frozen=True, kw_only=True):
    partition: int
    offset: int
    event_id: str | None
    problem: str


class Head(msgspec.Struct, frozen=True, kw_only=True):
    """The newest event of a partition as verified: a checkpoint for later runs."""

    partition: int
    offset: int
    hash: str


def _short(digest: str | None) -> str:
    return "none" if digest is None else digest[:16] + "…"


class PartitionChain:
    """Checks one partition's events in offset order. `check` answers the first problem of
    one record, or None; after a problem, later records are not meaningful to check."""

    def __init__(self, partition: int, checkpoint: Head | None = None) -> None:
        self.partition = partition
        self.expected = GENESIS_HASH  # prev_hash the next event must carry
        self.previous_offset: int | None = None
        self.events = 0
        self.checkpoint = checkpoint
        self.head: Head | None = None

    def check(self, offset: int, key: bytes | None, value: bytes | None) -> BrokenLink | None:
        def broken(problem: str, event_id: str | None = None) -> BrokenLink:
            return BrokenLink(
                partition=self.partition, offset=offset, event_id=event_id, problem=problem
            )

        if value is None:
            return broken("the record has no value (a tombstone): an event was deleted")
        try:
            linked = _decoder.decode(value)
        except msgspec.DecodeError as exc:
            return broken(f"the record is not an event envelope ({exc})")
        event_id = linked.event_id
        if linked.prev_hash is None:
            return broken("the event carries no prev_hash", event_id)
        if linked.prev_hash != self.expected:
            return broken(self._mismatch(linked.prev_hash), event_id)
        if key is None or linked.account_sid is None or key != linked.account_sid.encode():
            return broken(
                f"the record key {key!r} is not the event's account_sid {linked.account_sid}",
                event_id,
            )
        digest = link_hash(value)
        checkpoint = self.checkpoint
        if checkpoint is not None and offset == checkpoint.offset and digest != checkpoint.hash:
            return broken(
                f"the event hashes to {_short(digest)}, the checkpoint recorded "
                f"{_short(checkpoint.hash)} at this offset: the event was altered",
                event_id,
            )
        if checkpoint is not None and self.previous_offset is not None:
            if self.previous_offset < checkpoint.offset < offset:
                return broken(
                    f"the checkpoint recorded an event at offset {checkpoint.offset}, which "
                    "the log no longer holds: events were removed",
                    event_id,
                )
        self.expected = digest
        self.previous_offset = offset
        self.events += 1
        self.head = Head(partition=self.partition, offset=offset, hash=digest)
        return None

    def finish(self) -> BrokenLink | None:
        """Called after the partition's last record: a checkpoint past the end means the log
        lost events it once held."""
        checkpoint = self.checkpoint
        last = -1 if self.previous_offset is None else self.previous_offset
        if checkpoint is not None and checkpoint.offset > last:
            return BrokenLink(
                partition=self.partition,
                offset=checkpoint.offset,
                event_id=None,
                problem=(
                    f"the checkpoint recorded an event at offset {checkpoint.offset} but the "
                    f"partition ends at offset {last}: events were removed"
                ),
            )
        return None

    def _mismatch(self, prev_hash: str) -> str:
        if self.previous_offset is None:
            return (
                f"prev_hash {_short(prev_hash)} is not the genesis hash, yet no event precedes "
                "this one in the partition: events before it were deleted, or it was altered"
            )
        return (
            f"prev_hash {_short(prev_hash)} is not the sha256 of the event before it "
            f"(offset {self.previous_offset}, {_short(self.expected)}): that event was "
            "altered, or events between them were dropped, inserted or reordered"
        )
