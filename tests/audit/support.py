"""Running the `fleetstate` command line as a child process, as an operator would."""

from __future__ import annotations

import asyncio
import sys
import uuid

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from events.kafka_security import kafka_options
from services.config import Settings, environment_of


async def fleetstate(settings: Settings, *args: str, timeout: float = 120) -> tuple[int, str]:
    """Runs `fleetstate ARGS` with `settings`; returns its exit code and what it printed."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "services.cli",
        *args,
        env={**environment_of(settings), "COLUMNS": "200"},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    async with asyncio.timeout(timeout):
        output, _ = await process.communicate()
    return process.returncode, output.decode()


async def copied_topic(settings: Settings, records: list[tuple[bytes, bytes]]) -> str:
    """A new one-partition topic holding (key, value) `records` at offsets 0..n-1."""
    topic = f"test-{uuid.uuid4().hex[:10]}.copied"
    admin = AIOKafkaAdminClient(**kafka_options(settings.kafka_bootstrap))
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, 1, 1)])
    finally:
        await admin.close()
    producer = AIOKafkaProducer(**kafka_options(settings.kafka_bootstrap), acks="all")
    await producer.start()
    try:
        for key, value in records:
            await producer.send_and_wait(topic, value, key=key, partition=0)
    finally:
        await producer.stop()
    return topic
