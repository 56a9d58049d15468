"""`fleetstate usage-processor`: usage reports -> usage log and threshold commands, exactly once.

One member of a consumer group on the usage topic. For each usage partition it owns it runs a
`UsagePartition` (state, transactional producer, worker task) and follows the events partition
of the same number. Ownership and rebalances work as for the command processor
(services/partition_owner.py).
"""

from __future__ import annotations

import logging

from services.config import Settings
from services.lifecycle import serve_metrics, stop_on_signals
from services.partition_owner import PartitionOwner, group_consumer
from services.topics import ensure_topics
from services.usage import metrics
from services.usage.follower import EventsFollower
from services.usage.partition import UsagePartition

log = logging.getLogger(__name__)

GROUP_ID = "fleetstate-usage"


class UsageProcessor(PartitionOwner):
    name = "usage processor"
    fetch_max_records = 20_000
    backlog_limit = 60_000  # queued reports per partition before its fetching pauses

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.group_id = f"{GROUP_ID}.{settings.usage_topic}"
        self.follower = EventsFollower(settings.kafka_bootstrap, settings.events_topic)
        consumer = group_consumer(
            settings.kafka_bootstrap,
            self.group_id,
            settings.processor_session_timeout_ms,
            max_partition_fetch_bytes=8 * 1024 * 1024,
        )
        super().__init__(settings.usage_topic, consumer, self._new_worker)

    def _new_worker(self, partition: int) -> UsagePartition:
        return UsagePartition(self.settings, partition, self.group_id, self.follower)

    async def start_dependencies(self) -> None:
        await ensure_topics(self.settings)
        await self.follower.start()

    async def stop_dependencies(self) -> None:
        await self.follower.stop()

    async def after_acquire(self, worker: UsagePartition) -> None:
        await worker.follow_events()  # the Sims and Fleets of its accounts, from the log
        metrics.PARTITIONS_OWNED.set(len(self.partitions))

    async def after_release(self, partition: int, worker: UsagePartition) -> None:
        metrics.PARTITIONS_OWNED.set(len(self.partitions))


async def run_usage_processor(settings: Settings, metrics_port: int = 0) -> None:
    serve_metrics(metrics_port)
    await UsageProcessor(settings).run(stop_on_signals())
