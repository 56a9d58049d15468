"""Reading and writing the network topics of a test: consume until what is wanted arrives."""

from __future__ import annotations

import time
from collections.abc import Callable

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.structs import ConsumerRecord

from events.kafka_security import KafkaSecurity, kafka_options
from services.config import Settings
from services.log_reader import partition_ids

WAIT = 60.0  # seconds: a deadline for a simulator child process to start and answer


async def produce(
    settings: Settings,
    topic: str,
    records: list[tuple[bytes, bytes]],
    security: KafkaSecurity | None = None,
) -> None:
    """(key, value) records, in order, each stored before this returns."""
    producer = AIOKafkaProducer(**kafka_options(settings.kafka_bootstrap, security), acks="all")
    await producer.start()
    try:
        for key, value in records:
            await producer.send_and_wait(topic, value, key=key)
    finally:
        await producer.stop()


async def read_until(
    settings: Settings,
    topic: str,
    done: Callable[[list[ConsumerRecord]], bool],
    timeout: float = WAIT,
    security: KafkaSecurity | None = None,
) -> list[ConsumerRecord]:
    """Every record of `topic` from its start, read until `done(records)` is true; fails with
    what it did read when the deadline passes first."""
    consumer = AIOKafkaConsumer(
        **kafka_options(settings.kafka_bootstrap, security),
        enable_auto_commit=False,
        # What a transaction aborted never shows: a relay's exactly-once is judged as read.
        isolation_level="read_committed",
    )
    await consumer.start()
    records: list[ConsumerRecord] = []
    try:
        # Every partition the topic has (a dead-letter topic has one, the others the settings'),
        # asked of the broker as this consumer's principal. (consumer.topics() does not refresh
        # what partitions_for_topic reads: guessing the settings' count instead left a read of
        # a dead-letter topic waiting 40 s on a partition it does not have.)
        ids = await partition_ids(settings.kafka_bootstrap, topic, security)
        partitions = [TopicPartition(topic, p) for p in ids]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        deadline = time.monotonic() + timeout
        while not done(records):
            if time.monotonic() > deadline:
                raise AssertionError(f"{topic}: not there after {timeout}s; read: {records}")
            for batch in (await consumer.getmany(timeout_ms=200)).values():
                records.extend(batch)
        return records
    finally:
        await consumer.stop()
