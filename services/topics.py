"""Creates fleetstate's topics with explicit settings, idempotently, through the admin client."""

from __future__ import annotations

import asyncio
import logging

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaConnectionError, KafkaError, TopicAlreadyExistsError

from events.kafka_security import kafka_options
from services.config import Settings
from services.health import kafka_refusal
from services.runtime.changelog import CHANGELOG_CONFIG
from services.topic_guard import TopicSettingsError, check_topics

__all__ = ["TopicMismatch", "TopicSettingsError", "ensure_topics", "topic_specs"]

log = logging.getLogger(__name__)

FOREVER = {"retention.ms": "-1", "retention.bytes": "-1", "cleanup.policy": "delete"}
WEEK = {"retention.ms": str(7 * 24 * 3600 * 1000), "cleanup.policy": "delete"}
# Raw usage reports: long enough to re-read them for a month and a half of investigation; the
# usage log, not the raw reports, is what the totals are kept in.
SIX_WEEKS = {"retention.ms": str(42 * 24 * 3600 * 1000), "cleanup.policy": "delete"}
# Commands carry the broker's clock: how long ago a command was first sent is judged by it
# (the de-duplication horizon), whatever the sender's clock says.
BROKER_TIME = {"message.timestamp.type": "LogAppendTime"}
# A dead letter is the input record as it came, plus headers: room for the largest input.
DEAD_LETTERS = {**FOREVER, "max.message.bytes": str(2 * 1024 * 1024)}


def topic_specs(settings: Settings) -> list[NewTopic]:
    """The topics and their settings. The events topic is the log: it keeps data forever."""
    n = settings.partitions
    # The replication the deployment promises, on every topic (1 on the one-broker dev stack).
    rf = settings.replication_factor
    isr = {"min.insync.replicas": str(settings.min_insync_replicas)}
    return [
        # Commands by kind of sender, co-partitioned: partition p of each is answered together.
        NewTopic(settings.commands_topic, n, rf, topic_configs={**WEEK, **BROKER_TIME, **isr}),
        NewTopic(settings.operator_topic, n, rf, topic_configs={**WEEK, **BROKER_TIME, **isr}),
        NewTopic(settings.internal_topic, n, rf, topic_configs={**WEEK, **BROKER_TIME, **isr}),
        NewTopic(settings.events_topic, n, rf, topic_configs={**FOREVER, **isr}),
        # Outcomes answer commands and are the history of rejections: kept forever too.
        NewTopic(settings.outcomes_topic, n, rf, topic_configs={**FOREVER, **isr}),
        NewTopic(settings.dlq_topic, 1, rf, topic_configs={**DEAD_LETTERS, **isr}),
        # Processor state: derived from the events, compacted to its live size.
        NewTopic(
            settings.processor_changelog_topic, n, rf, topic_configs={**CHANGELOG_CONFIG, **isr}
        ),
        NewTopic(settings.catalogue_topic, 1, rf, topic_configs={**CHANGELOG_CONFIG, **isr}),
        NewTopic(settings.usage_changelog_topic, n, rf, topic_configs={**CHANGELOG_CONFIG, **isr}),
        # Usage: reports keyed by account_sid like commands, so report partition p and events
        # partition p hold the same accounts; the usage log is the truth of usage totals.
        NewTopic(settings.usage_topic, n, rf, topic_configs={**SIX_WEEKS, **isr}),
        NewTopic(settings.usage_log_topic, n, rf, topic_configs={**FOREVER, **isr}),
        NewTopic(settings.usage_dlq_topic, 1, rf, topic_configs={**DEAD_LETTERS, **isr}),
        # The mobile network, keyed by ICCID: a week is ample to re-read what either side sent
        # (the event log, not these, is the truth of what was asked and answered).
        NewTopic(settings.network_out_topic, n, rf, topic_configs={**WEEK, **isr}),
        NewTopic(settings.network_in_topic, n, rf, topic_configs={**WEEK, **isr}),
        NewTopic(settings.network_dlq_topic, 1, rf, topic_configs={**DEAD_LETTERS, **isr}),
    ]


class TopicMismatch(RuntimeError):
    pass


async def _partition_counts(admin: AIOKafkaAdminClient, names: list[str]) -> dict[str, int]:
    # Right after creation the broker may describe a topic with no partitions yet (its metadata
    # is still propagating); ask again briefly before comparing.
    for _ in range(50):
        described = await admin.describe_topics(names)
        counts = {t["topic"]: len(t["partitions"]) for t in described}
        if all(counts.get(name) for name in names):
            break
        await asyncio.sleep(0.1)
    return counts


async def _admin_when_kafka_answers(bootstrap: str) -> AIOKafkaAdminClient:
    """An admin client, once the broker answers: a service started (or restarted by its
    supervisor) while Kafka is down waits for it, saying so, rather than exiting."""
    backoff = 0.2
    while True:
        admin = AIOKafkaAdminClient(**kafka_options(bootstrap))
        try:
            await admin.start()
            return admin
        except KafkaConnectionError as exc:
            await admin.close()
            # A refused password or an untrusted certificate is waited out too (it may be
            # fixed on the broker's side), but named.
            reason = await kafka_refusal(bootstrap) or exc
            log.warning("waiting for Kafka at %s (%s)", bootstrap, reason)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 5.0)


async def ensure_topics(settings: Settings, specs: list[NewTopic] | None = None) -> None:
    """Creates missing topics; an existing topic with another partition count is an error,
    because the processor relies on commands partition p mapping to events partition p, and so
    is one whose settings would lose records (TopicSettingsError, see services/topic_guard.py)."""
    specs = topic_specs(settings) if specs is None else specs
    backoff = 0.2
    while True:
        try:
            return await _ensure(settings, specs)
        except KafkaError as exc:
            if not exc.retriable:
                raise
            # The broker went away while the topics were being checked (it restarts), or a
            # broker of a cluster has not yet heard of a topic just created: a service
            # starting then waits, as it does when Kafka is down at the start.
            log.warning("Kafka could not check the topics yet (%s); checking again", exc)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 5.0)


async def _ensure(settings: Settings, specs: list[NewTopic]) -> None:
    admin = await _admin_when_kafka_answers(settings.kafka_bootstrap)
    try:
        existing = set(await admin.list_topics())
        missing = [spec for spec in specs if spec.name not in existing]
        for spec in missing:
            try:
                await admin.create_topics([spec])
                log.info("created topic %s (%d partitions)", spec.name, spec.num_partitions)
            except TopicAlreadyExistsError:
                pass  # another process created it first
        counts = await _partition_counts(admin, [spec.name for spec in specs])
        for spec in specs:
            if counts.get(spec.name) != spec.num_partitions:
                raise TopicMismatch(
                    f"topic {spec.name} has {counts.get(spec.name)} partitions, "
                    f"FLEETSTATE_PARTITIONS says {spec.num_partitions}"
                )
        await check_topics(admin, settings, [spec.name for spec in specs])
    finally:
        await admin.close()


async def delete_topics_of(bootstrap: str, prefix: str) -> None:
    """Deletes every topic whose name starts with `prefix` (a test's or a benchmark's own):
    the dev broker would otherwise gather thousands of partitions run after run, and each
    costs it start-up time and background work. Nothing is done while the broker is away."""
    admin = AIOKafkaAdminClient(**kafka_options(bootstrap))
    try:
        await admin.start()
        mine = [t for t in await admin.list_topics() if t.startswith(prefix)]
        if mine:
            await admin.delete_topics(mine)
    except KafkaError:
        pass  # its data goes with the next clean-data
    finally:
        await admin.close()
