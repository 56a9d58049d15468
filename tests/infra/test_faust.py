"""faust-streaming runs against the real broker: an app starts, an agent processes a message."""

from __future__ import annotations

import asyncio

import faust
from aiokafka import AIOKafkaProducer

from events.kafka_security import kafka_options
from tests.infra.test_kafka import create_topic


async def test_a_faust_agent_processes_a_message_from_the_real_broker(settings, unique, tmp_path):
    topic_name = f"test-{unique}.faust"
    await create_topic(settings, topic_name)
    app = faust.App(
        f"test-{unique}",
        broker=f"kafka://{settings.kafka_bootstrap}",
        store="memory://",
        datadir=str(tmp_path),
        web_enabled=False,
        topic_replication_factor=1,
        topic_partitions=1,
        consumer_auto_offset_reset="earliest",
    )
    topic = app.topic(topic_name, value_type=bytes, value_serializer="raw")
    seen: asyncio.Queue[bytes] = asyncio.Queue()

    @app.agent(topic)
    async def collect(stream):
        async for value in stream:
            await seen.put(value)

    await app.start()
    try:
        producer = AIOKafkaProducer(**kafka_options(settings.kafka_bootstrap))
        await producer.start()
        try:
            await producer.send_and_wait(topic_name, b"ping")
        finally:
            await producer.stop()
        assert await asyncio.wait_for(seen.get(), 60) == b"ping"
    finally:
        await app.stop()
