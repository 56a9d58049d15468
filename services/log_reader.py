"""Reads topic partitions from a position to their end, as they are at the moment of asking,
and makes the consumers that read the log: outside any group, or as a member of one.

The processor recovers from it, and audits and tests read the log with it. It reads with
read_committed: an aborted transaction's records and an unfinished one's are never seen.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.coordinator.assignors.range import RangePartitionAssignor
from aiokafka.structs import ConsumerRecord

from events.kafka_security import KafkaSecurity, kafka_options


async def partition_ids(
    bootstrap: str, topic: str, security: KafkaSecurity | None = None
) -> list[int]:
    """The topic's partitions as the broker describes them now (a consumer's cached metadata
    may not know a topic made since)."""
    admin = AIOKafkaAdminClient(**kafka_options(bootstrap, security))
    await admin.start()
    try:
        [described] = await admin.describe_topics([topic])
    finally:
        await admin.close()
    return sorted(p["partition"] for p in described["partitions"])


# How long the broker may hold a fetch that finds nothing new. It answers as soon as records
# (or, for read_committed, a transaction's commit marker) arrive, so this costs no latency; a
# short wait would only make every idle consumer poll the broker hundreds of times a second,
# which on a small machine takes CPU from everything else.
FETCH_MAX_WAIT_MS = 100


def event_type(record: ConsumerRecord) -> bytes | None:
    """An events record's `type` header (the processor writes one on every event), so readers
    that need a few types skip the rest without decoding them."""
    for key, value in record.headers or ():
        if key == "type":
            return value
    return None


# Fetches of megabytes: a reader catching up (a restore, a replay, a projection behind)
# takes thousands of records at a time.
LARGE_FETCHES = {"max_partition_fetch_bytes": 8 * 1024 * 1024, "fetch_max_bytes": 32 * 1024 * 1024}


def log_consumer(bootstrap: str, **options) -> AIOKafkaConsumer:
    """A consumer outside any group, for reading partitions by hand."""
    settings = {
        "isolation_level": "read_committed",
        "enable_auto_commit": False,
        "auto_offset_reset": "earliest",
        **LARGE_FETCHES,
        "fetch_max_wait_ms": FETCH_MAX_WAIT_MS,
    }
    return AIOKafkaConsumer(**kafka_options(bootstrap), **{**settings, **options})


def group_consumer(bootstrap: str, group_id: str, session_timeout_ms: int, **options):
    """The consumer of a group member: read_committed, offsets never committed automatically
    (each service keeps its own positions where its writes go: a changelog, PostgreSQL);
    partition p of every input topic to one member."""
    return AIOKafkaConsumer(
        **kafka_options(bootstrap),
        group_id=group_id,
        enable_auto_commit=False,
        isolation_level="read_committed",
        auto_offset_reset="earliest",
        session_timeout_ms=session_timeout_ms,
        heartbeat_interval_ms=1_000,
        # Also the rebalance timeout: how long a rebalance waits for members to rejoin.
        max_poll_interval_ms=60_000,
        fetch_max_wait_ms=FETCH_MAX_WAIT_MS,
        partition_assignment_strategy=(RangePartitionAssignor,),
        **options,
    )


async def read_to_end(
    consumer: AIOKafkaConsumer, starts: dict[TopicPartition, int]
) -> AsyncIterator[tuple[TopicPartition, list[ConsumerRecord]]]:
    """Yields (partition, records) batches from each start offset up to the end offset the
    partition had when reading began. The consumer's assignment is replaced."""
    consumer.assign(list(starts))
    ends = await consumer.end_offsets(list(starts))
    pending = set()
    for tp, start in starts.items():
        if start < ends[tp]:
            consumer.seek(tp, start)
            pending.add(tp)
    expected = dict(starts)  # next offset per partition: a fetch in flight at seek time
    while pending:  # may deliver records again, so each offset is yielded once
        batches = await consumer.getmany(*pending, timeout_ms=500)
        for tp, records in batches.items():
            records = [r for r in records if expected[tp] <= r.offset < ends[tp]]
            if records:
                expected[tp] = records[-1].offset + 1
                yield tp, records
        for tp in list(pending):
            # Positions step over transaction markers too, so compare positions, not offsets.
            if await consumer.position(tp) >= ends[tp]:
                pending.discard(tp)


async def read_all(bootstrap: str, topic: str) -> dict[int, list[ConsumerRecord]]:
    """Every committed record of a topic, by partition. For audits and tests of small logs."""
    consumer = log_consumer(bootstrap)
    await consumer.start()
    try:
        partitions = await partition_ids(bootstrap, topic)
        out: dict[int, list[ConsumerRecord]] = {p: [] for p in partitions}
        starts = {TopicPartition(topic, p): 0 for p in partitions}
        async for tp, records in read_to_end(consumer, starts):
            out[tp.partition].extend(records)
        return out
    finally:
        await consumer.stop()
