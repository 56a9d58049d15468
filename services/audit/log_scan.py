"""Reads offset ranges of a topic's partitions, as fast as aiokafka allows, for the audits.

Unlike services.log_reader.read_to_end, the caller says where each partition stops (replay
--verify stops where the live projector stands) and may stop a partition early (verify-log
stops at a partition's first broken link).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.structs import ConsumerRecord

from events.kafka_security import kafka_options
from services.log_reader import partition_ids

# Large fetches: fewer round trips, and the broker sends whole segments' worth at a time.
FETCH_BYTES_PER_PARTITION = 16 * 1024 * 1024
FETCH_BYTES = 64 * 1024 * 1024


def scan_consumer(bootstrap: str) -> AIOKafkaConsumer:
    """Like services.log_reader.log_consumer (outside any group, read_committed), with larger
    fetches."""
    return AIOKafkaConsumer(
        **kafka_options(bootstrap),
        isolation_level="read_committed",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_partition_fetch_bytes=FETCH_BYTES_PER_PARTITION,
        fetch_max_bytes=FETCH_BYTES,
    )


async def partition_bounds(
    consumer: AIOKafkaConsumer, bootstrap: str, topic: str
) -> dict[int, tuple[int, int]]:
    """partition -> (first offset still in the log, end offset) of every partition now.
    The end offset is the last stable one: read_committed never reads past it."""
    tps = [TopicPartition(topic, p) for p in await partition_ids(bootstrap, topic)]
    consumer.assign(tps)
    beginnings = await consumer.beginning_offsets(tps)
    ends = await consumer.end_offsets(tps)
    return {tp.partition: (beginnings[tp], ends[tp]) for tp in tps}


async def scan(
    consumer: AIOKafkaConsumer,
    topic: str,
    ranges: dict[int, tuple[int, int]],
    stopped: set[int] | None = None,
) -> AsyncIterator[tuple[int, list[ConsumerRecord]]]:
    """Yields (partition, records) with start <= offset < stop for each partition's
    (start, stop), each record once, in offset order per partition. A partition added to
    `stopped` by the caller is read no further."""
    stopped = set() if stopped is None else stopped
    tps = {p: TopicPartition(topic, p) for p in ranges}
    consumer.assign(list(tps.values()))
    pending = set()
    expected: dict[int, int] = {}  # next offset per partition: a fetch in flight at seek
    for p, (start, stop) in ranges.items():  # time may deliver records again
        if start < stop:
            consumer.seek(tps[p], start)
            pending.add(p)
            expected[p] = start
    while pending - stopped:
        reading = [tps[p] for p in pending - stopped]
        batches = await consumer.getmany(*reading, timeout_ms=500)
        for tp, records in batches.items():
            p = tp.partition
            if p in stopped:
                continue
            stop = ranges[p][1]
            if records and (records[0].offset < expected[p] or records[-1].offset >= stop):
                records = [r for r in records if expected[p] <= r.offset < stop]
            if records:
                expected[p] = records[-1].offset + 1
                yield p, records
        for p in list(pending):
            # Positions step over transaction markers too, so compare positions, not offsets.
            if p in stopped or await consumer.position(tps[p]) >= ranges[p][1]:
                pending.discard(p)
