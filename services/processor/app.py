"""`fleetstate processor`: the command processor, one member of a consumer group.

Why aiokafka and not a faust agent: the guarantee rests on controlling, per input partition, the
transactional producer, the moment state is rebuilt and the offset committed with the output.
faust-streaming's exactly-once mode does this internally, is marked experimental and has open
duplicate bugs (ENGINEERING.md, guarantee 2), so the processor takes the "robust alternative":
plain aiokafka with one transactional producer per partition, proven by the kill tests.

Several instances share the command partitions (services/partition_owner.py: what happens
around ownership and rebalances). This module adds what the command processor needs around it:
one State for the accounts of every partition it owns, and the catalogue (Networks, SIM cards,
registrations) read from the partitions it does not own.
"""

from __future__ import annotations

import logging

from services.config import Settings
from services.domain.state import State
from services.lifecycle import serve_metrics, stop_on_signals
from services.partition_owner import PartitionOwner, group_consumer
from services.processor import metrics
from services.processor.catalogue_reader import CatalogueReader
from services.processor.partition import PartitionProcessor
from services.topics import ensure_topics

log = logging.getLogger(__name__)

GROUP_ID = "fleetstate-processor"


class Processor(PartitionOwner):
    name = "processor"
    fetch_max_records = 2000
    backlog_limit = 10_000  # queued commands per partition before its fetching pauses

    def __init__(self, settings: Settings, group_id: str = GROUP_ID) -> None:
        self.settings = settings
        self.group_id = f"{group_id}.{settings.commands_topic}"
        # One State for every partition this process owns, plus the catalogue fed from the
        # partitions it does not own.
        self.state = State()
        self.catalogue = CatalogueReader(settings, self.state)
        consumer = group_consumer(
            settings.kafka_bootstrap, self.group_id, settings.processor_session_timeout_ms
        )
        super().__init__(settings.commands_topic, consumer, self._new_worker)

    def _new_worker(self, partition: int) -> PartitionProcessor:
        return PartitionProcessor(self.settings, partition, self.state, self.group_id)

    async def start_dependencies(self) -> None:
        await ensure_topics(self.settings)
        await self.catalogue.start(self.settings.partitions)

    async def stop_dependencies(self) -> None:
        await self.catalogue.stop()

    async def before_acquire(self, partition: int) -> None:
        await self.catalogue.exclude(partition)  # our own fold of it covers it now

    async def after_acquire(self, worker: PartitionProcessor) -> None:
        metrics.PARTITIONS_OWNED.set(len(self.partitions))

    async def after_release(self, partition: int, worker: PartitionProcessor) -> None:
        await self.catalogue.include(partition, worker.events_end)
        metrics.PARTITIONS_OWNED.set(len(self.partitions))

    async def after_assignment(self) -> None:
        await self.catalogue.caught_up()


async def run_processor(settings: Settings, metrics_port: int = 0) -> None:
    serve_metrics(metrics_port)
    await Processor(settings).run(stop_on_signals())
