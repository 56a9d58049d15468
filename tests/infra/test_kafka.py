"""The real broker does what fleetstate relies on: delivery, transactions, read_committed."""

from __future__ import annotations

import asyncio

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from events.kafka_security import kafka_options
from services.config import Settings


async def create_topic(settings: Settings, name: str, partitions: int = 1) -> None:
    admin = AIOKafkaAdminClient(**kafka_options(settings.kafka_bootstrap))
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, partitions, 1)])
    finally:
        await admin.close()


async def read_all(settings: Settings, topic: str, isolation: str) -> list[bytes]:
    """Everything a consumer with this isolation level sees, from offset 0 to the end."""
    consumer = AIOKafkaConsumer(
        **kafka_options(settings.kafka_bootstrap),
        isolation_level=isolation,
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        tp = TopicPartition(topic, 0)
        consumer.assign([tp])
        await consumer.seek_to_beginning(tp)
        end = (await consumer.end_offsets([tp]))[tp]
        values = []
        while await consumer.position(tp) < end:
            batch = await consumer.getmany(tp, timeout_ms=1000)
            values += [record.value for record in batch.get(tp, [])]
        return values
    finally:
        await consumer.stop()


async def test_a_produced_message_is_consumed_with_its_key_and_value(settings, unique):
    topic = f"test-{unique}.roundtrip"
    await create_topic(settings, topic)
    producer = AIOKafkaProducer(**kafka_options(settings.kafka_bootstrap), acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(topic, b"hello", key=b"AC1")
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(
        topic, **kafka_options(settings.kafka_bootstrap), auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        record = await asyncio.wait_for(consumer.getone(), 20)
    finally:
        await consumer.stop()
    assert (record.key, record.value) == (b"AC1", b"hello")


async def test_read_committed_sees_a_committed_transaction_and_not_an_aborted_one(settings, unique):
    topic = f"test-{unique}.txn"
    await create_topic(settings, topic)
    producer = AIOKafkaProducer(
        **kafka_options(settings.kafka_bootstrap), transactional_id=f"test-{unique}"
    )
    await producer.start()
    try:
        async with producer.transaction():
            await producer.send(topic, b"committed")
        await producer.begin_transaction()
        await producer.send(topic, b"aborted")
        await producer.flush()
        await producer.abort_transaction()
        async with producer.transaction():
            await producer.send(topic, b"after")
    finally:
        await producer.stop()

    assert await read_all(settings, topic, "read_committed") == [b"committed", b"after"]
    # The aborted record is in the log; only the isolation level hides it.
    assert b"aborted" in await read_all(settings, topic, "read_uncommitted")
