"""Topics are created at start with explicit settings, and creating them again is harmless."""

from __future__ import annotations

import msgspec
import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from events.kafka_security import kafka_options
from services.topics import TopicMismatch, ensure_topics


async def topic_config(settings, topic: str) -> dict[str, str]:
    admin = AIOKafkaAdminClient(**kafka_options(settings.kafka_bootstrap))
    await admin.start()
    try:
        [response] = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)])
        [(_, _, _, _, entries)] = response.resources
        return {name: value for name, value, *_ in entries}
    finally:
        await admin.close()


async def test_topics_are_created_with_the_configured_partitions_and_the_log_kept_forever(settings):
    await ensure_topics(settings)
    await ensure_topics(settings)  # a second start changes nothing and does not fail
    events = await topic_config(settings, settings.events_topic)
    assert events["retention.ms"] == "-1"
    assert events["retention.bytes"] == "-1"
    admin = AIOKafkaAdminClient(**kafka_options(settings.kafka_bootstrap))
    await admin.start()
    try:
        described = await admin.describe_topics([settings.commands_topic, settings.events_topic])
    finally:
        await admin.close()
    assert [len(t["partitions"]) for t in described] == [2, 2]


async def test_an_existing_topic_with_another_partition_count_is_refused(settings):
    await ensure_topics(settings)
    with pytest.raises(TopicMismatch, match="partitions"):
        await ensure_topics(msgspec.structs.replace(settings, partitions=3))
