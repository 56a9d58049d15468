"""Fixtures of the usage tests: the usage processor as a child process, and the reporter."""

from __future__ import annotations

import pytest

from events.usage_client import UsageReporter
from tests.services import ServiceProcess


@pytest.fixture
async def reporter(topics):
    async with UsageReporter(topics.kafka_bootstrap, usage_topic=topics.usage_topic) as reporter:
        yield reporter


@pytest.fixture
def usage_processor(topics, tmp_path):
    process = ServiceProcess("usage-processor", topics, log_path=tmp_path / "usage.log")
    process.start()
    yield process
    process.stop()
