"""`fleetstate usage-processor`: usage reports -> usage log and threshold commands, exactly once.

One member of a consumer group on the usage topic, on the partition runtime
(services/runtime): for each usage partition it owns it runs a `UsagePartition` (state
restored from its changelog, transactional producer, worker task) that follows the events
partition of the same number.
"""

from __future__ import annotations

import logging

from services.config import Settings
from services.lifecycle import serve_metrics, stop_on_signals
from services.log_reader import group_consumer
from services.runtime.follower import PartitionFollower
from services.runtime.limits import ValueLimits, value_limits
from services.runtime.owner import PartitionOwner
from services.topics import ensure_topics
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
        self.follower = PartitionFollower(settings.kafka_bootstrap, settings.events_topic)
        self.sizes = ValueLimits(0, 0)  # read from the broker at start
        consumer = group_consumer(
            settings.kafka_bootstrap,
            self.group_id,
            settings.processor_session_timeout_ms,
            max_partition_fetch_bytes=8 * 1024 * 1024,
        )
        super().__init__([settings.usage_topic], consumer, self._new_worker)

    def _new_worker(self, partition: int) -> UsagePartition:
        return UsagePartition(self, partition)

    async def start_dependencies(self) -> None:
        s = self.settings
        await ensure_topics(s)
        self.sizes = await value_limits(
            s.kafka_bootstrap,
            [s.usage_topic, s.usage_log_topic, s.usage_changelog_topic],
            s.usage_dlq_topic,
        )
        await self.follower.start()

    async def stop_dependencies(self) -> None:
        await self.follower.stop()


async def run_usage_processor(settings: Settings, metrics_port: int = 0) -> None:
    serve_metrics(metrics_port)
    await UsageProcessor(settings).run(stop_on_signals())
