"""A worker's changelog: its state as a compacted topic, one partition per input partition.

Each transaction writes the keys its batch changed (None deletes one), so the changelog read
to its end under read_committed is exactly the state the committed output was decided
against. Compaction keeps its size near the live state's: the broker drops a key's older
values once their segment is closed, which the topic settings below make happen within hours
at any write rate.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping

import msgspec
from aiokafka import TopicPartition

from services.log_reader import log_consumer, read_to_end

log = logging.getLogger(__name__)

CHANGELOG_CONFIG = {
    "cleanup.policy": "compact",
    # Only closed segments are compacted: close them every 64 MB or 6 hours.
    "segment.bytes": str(64 * 1024 * 1024),
    "segment.ms": str(6 * 3600 * 1000),
    "min.cleanable.dirty.ratio": "0.5",
    # How long a deleted key's tombstone is kept for readers that are behind.
    "delete.retention.ms": str(24 * 3600 * 1000),
}

META = b"meta"  # the key of the record that says where the state stands in its source logs
# The key of the record that says which input the state has answered: the next offset of each
# input partition, written in the transaction that answered up to there (encode_positions).
INPUT = b"input"


def encode_positions(positions: Mapping[TopicPartition, int]) -> bytes:
    return msgspec.json.encode(
        [[tp.topic, tp.partition, offset] for tp, offset in positions.items()]
    )


def decode_positions(value: bytes) -> dict[TopicPartition, int]:
    return {TopicPartition(t, p): offset for t, p, offset in msgspec.json.decode(value)}


async def read_changelog(bootstrap: str, changelog: TopicPartition) -> dict[bytes, bytes]:
    """The latest value of every key of the changelog partition, deleted keys left out."""
    started = time.monotonic()
    consumer = log_consumer(bootstrap)
    await consumer.start()
    state: dict[bytes, bytes] = {}
    read = 0
    try:
        async for _, records in read_to_end(consumer, {changelog: 0}):
            read += len(records)
            for record in records:
                if record.value is None:
                    state.pop(record.key, None)
                else:
                    state[record.key] = record.value
    finally:
        await consumer.stop()
    log.debug(
        "changelog %s[%d]: %d records read, %d keys, %.2fs",
        changelog.topic,
        changelog.partition,
        read,
        len(state),
        time.monotonic() - started,
    )
    return state
