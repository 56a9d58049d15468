"""The tamper chain, checked in memory: an intact log passes, and any single altered byte,
dropped event or swapped pair is named at the link it breaks."""

from __future__ import annotations

import msgspec
import pytest

from events.codec import encode_event
from services.audit.chain import GENESIS_HASH, BrokenLink, Head, PartitionChain
from services.processor import partition as processor
from tests.projection.test_changes import busy_world

Record = tuple[int, bytes, bytes]  # offset, key, value


def processor_chained_log() -> list[Record]:
    """The busy world's events chained exactly as the processor chains them, at offsets
    that skip some numbers (transaction markers take offsets too)."""
    chain = processor.CommandPartition.__new__(processor.CommandPartition)
    chain.last_hash = processor.GENESIS_HASH
    events = chain._chain(busy_world().log, command_offset=0)
    return [(3 * i, e.account_sid.encode(), encode_event(e)) for i, e in enumerate(events)]


def first_break(records: list[Record], checkpoint: Head | None = None) -> BrokenLink | None:
    chain = PartitionChain(0, checkpoint)
    for offset, key, value in records:
        broken = chain.check(offset, key, value)
        if broken is not None:
            return broken
    return chain.finish()


def head_of(records: list[Record]) -> Head:
    chain = PartitionChain(0)
    for record in records:
        assert chain.check(*record) is None
    return chain.head


LOG = processor_chained_log()


def test_the_processors_chain_verifies_and_agrees_on_the_genesis_hash():
    assert processor.GENESIS_HASH == GENESIS_HASH
    assert len(LOG) > 15
    assert first_break(LOG) is None
    assert first_break(LOG, head_of(LOG)) is None


def test_every_single_byte_changed_in_any_event_is_reported():
    checkpoint = head_of(LOG)
    for index, (offset, key, value) in enumerate(LOG):
        for position in range(len(value)):
            altered = bytearray(value)
            altered[position] ^= 0x01  # one bit of one byte
            log = [*LOG[:index], (offset, key, bytes(altered)), *LOG[index + 1 :]]
            broken = first_break(log, checkpoint)
            assert broken is not None, (index, position)
            # Named at the altered event itself or at the link right after it.
            assert broken.offset in (offset, offset + 3), (index, position, broken)


def test_an_altered_newest_event_is_reported_against_a_checkpoint_only():
    offset, key, value = LOG[-1]
    altered = value.replace(b'"type":"', b'"type" :"', 1)  # still valid JSON, same meaning
    log = [*LOG[:-1], (offset, key, altered)]
    assert first_break(log) is None  # nothing follows it yet: only a checkpoint can tell
    broken = first_break(log, head_of(LOG))
    assert broken.offset == offset and "checkpoint" in broken.problem


@pytest.mark.parametrize("index", range(len(LOG) - 1))
def test_dropping_any_event_is_reported_at_the_event_after_it(index):
    log = LOG[:index] + LOG[index + 1 :]
    broken = first_break(log)
    assert broken.offset == LOG[index + 1][0]
    assert "dropped" in broken.problem or "genesis" in broken.problem


def test_dropping_the_newest_event_is_reported_against_a_checkpoint():
    assert first_break(LOG[:-1]) is None
    broken = first_break(LOG[:-1], head_of(LOG))
    assert broken.offset == LOG[-1][0] and "removed" in broken.problem


@pytest.mark.parametrize("index", range(len(LOG) - 1))
def test_swapping_any_two_neighbours_is_reported(index):
    (a_offset, a_key, a_value), (b_offset, b_key, b_value) = LOG[index], LOG[index + 1]
    log = [*LOG[:index], (a_offset, b_key, b_value), (b_offset, a_key, a_value), *LOG[index + 2 :]]
    broken = first_break(log)
    assert broken is not None and broken.offset == a_offset


def test_deleting_the_start_of_a_partition_is_reported_at_its_first_remaining_event():
    broken = first_break(LOG[2:])
    assert broken.offset == LOG[2][0] and "genesis" in broken.problem


def test_a_record_whose_key_is_not_its_account_is_reported():
    offset, _, value = LOG[4]
    log = [*LOG[:4], (offset, b"AC" + b"f" * 32, value), *LOG[5:]]
    broken = first_break(log)
    assert broken.offset == offset and "record key" in broken.problem


def test_an_event_without_prev_hash_is_reported():
    offset, key, value = LOG[0]
    bare = msgspec.json.decode(value)
    del bare["prev_hash"]
    broken = first_break([(offset, key, msgspec.json.encode(bare)), *LOG[1:]])
    assert broken.offset == offset and "no prev_hash" in broken.problem
