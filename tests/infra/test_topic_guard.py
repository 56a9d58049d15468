"""The services refuse to start, with the reason, on real topics whose settings would lose the
log: made by hand on the broker with the wrong retention, cleanup policy or replication."""

from __future__ import annotations

import asyncio
import sys

import msgspec
import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from events.kafka_security import kafka_options
from services.config import environment_of
from services.topics import TopicSettingsError, ensure_topics


async def create_by_hand(settings, topic: str, configs: dict[str, str], partitions: int = 2):
    admin = AIOKafkaAdminClient(**kafka_options(settings.kafka_bootstrap))
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, partitions, 1, topic_configs=configs)])
    finally:
        await admin.close()


WEEK_MS = str(7 * 24 * 3600 * 1000)


async def test_an_events_topic_that_deletes_old_events_stops_the_processor_with_the_reason(
    settings,
):
    await create_by_hand(settings, settings.events_topic, {"retention.ms": WEEK_MS})
    with pytest.raises(TopicSettingsError) as refused:
        await ensure_topics(settings)
    assert f"topic {settings.events_topic}: retention.ms is {WEEK_MS}, must be -1" in str(
        refused.value
    )
    # The service itself: exits at start, and says which topic and which setting.
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "services.cli",
        "processor",
        env=environment_of(settings),
        stderr=asyncio.subprocess.PIPE,
    )
    _, stderr = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 2
    assert f"topic {settings.events_topic}: retention.ms" in stderr.decode()
    assert "Traceback" not in stderr.decode()


@pytest.mark.parametrize(
    ("which", "configs", "reason"),
    [
        ("outcomes_topic", {"retention.bytes": "1073741824"}, "retention.bytes is 1073741824"),
        ("usage_log_topic", {"cleanup.policy": "compact"}, "cleanup.policy is compact"),
        (
            "processor_changelog_topic",
            {"cleanup.policy": "compact,delete"},
            "cleanup.policy is compact,delete, must be compact",
        ),
        ("catalogue_topic", {"cleanup.policy": "delete"}, "cleanup.policy is delete"),
    ],
)
async def test_each_log_and_changelog_with_losing_settings_is_refused(
    settings, which, configs, reason
):
    topic = getattr(settings, which)
    partitions = 1 if which == "catalogue_topic" else 2
    await create_by_hand(settings, topic, configs, partitions)
    with pytest.raises(TopicSettingsError, match=f"topic {topic}: {reason}"):
        await ensure_topics(settings)


async def test_topics_below_the_promised_replication_are_refused(settings):
    await ensure_topics(settings)  # one broker: replication factor 1, min.insync.replicas 1
    promised = msgspec.structs.replace(settings, replication_factor=3, min_insync_replicas=2)
    with pytest.raises(TopicSettingsError) as refused:
        await ensure_topics(promised)
    message = str(refused.value)
    assert (
        f"topic {settings.events_topic}: replication factor 1 is below "
        "FLEETSTATE_REPLICATION_FACTOR 3" in message
    )
    assert (
        f"topic {settings.usage_log_topic}: min.insync.replicas 1 is below "
        "FLEETSTATE_MIN_INSYNC_REPLICAS 2" in message
    )


async def test_topics_made_by_ensure_topics_pass_the_check(settings):
    await ensure_topics(settings)
    await ensure_topics(settings)  # checked again at every start: still fine
