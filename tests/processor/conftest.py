from __future__ import annotations

import pytest

from events.client import CommandClient
from services.topics import ensure_topics
from tests.processor.support import ProcessorProcess


@pytest.fixture
async def topics(settings):
    await ensure_topics(settings)
    return settings


@pytest.fixture
async def client(topics):
    async with CommandClient(
        topics.kafka_bootstrap,
        commands_topic=topics.commands_topic,
        outcomes_topic=topics.outcomes_topic,
        actor="test",
    ) as client:
        yield client


@pytest.fixture
def processor(topics, tmp_path):
    process = ProcessorProcess(topics, log_path=str(tmp_path / "processor.log"))
    process.start()
    yield process
    process.stop()
