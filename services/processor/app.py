"""`fleetstate processor`: the command processor, one member of a consumer group.

Why aiokafka and not a faust agent: the guarantee rests on controlling, per input partition, the
transactional producer, the moment state is restored and the offset committed with the output.
faust-streaming's exactly-once mode does this internally, is marked experimental and has open
duplicate bugs, so the processor uses plain aiokafka with one transactional producer per
partition (services/runtime), proven by the kill tests.

Several instances share the command partitions; each partition's state is its own
(partition.py). What they all read besides: the catalogue table (the operator's Networks),
followed from its compacted topic. A SIM card is its ICCID's partition's own state.
"""

from __future__ import annotations

import logging

from services.config import Settings
from services.domain import Limits
from services.lifecycle import serve_metrics, stop_on_signals
from services.log_reader import group_consumer
from services.processor.partition import CommandPartition, input_topics
from services.processor.store import Catalogue
from services.runtime.global_table import GlobalTable
from services.runtime.limits import ValueLimits, value_limits
from services.runtime.owner import PartitionOwner
from services.topics import ensure_topics

log = logging.getLogger(__name__)

GROUP_ID = "fleetstate-processor"
# Room an event needs beyond what the decider encodes: the command offset and the chain hash.
STAMP_BYTES = 200


class Processor(PartitionOwner):
    name = "processor"
    fetch_max_records = 2000
    backlog_limit = 10_000  # queued commands per partition before its fetching pauses

    def __init__(
        self,
        settings: Settings,
        group_id: str = GROUP_ID,
        worker: type[CommandPartition] = CommandPartition,
    ) -> None:
        self.settings = settings
        self.group_id = f"{group_id}.{settings.commands_topic}"
        self.worker = worker
        self.catalogue = Catalogue()
        self.table = GlobalTable(
            settings.kafka_bootstrap, settings.catalogue_topic, self.catalogue.apply
        )
        self.limits = Limits()
        # Whether a partition may name its events' offsets before the broker answers (see
        # CommandPartition._commit): until the broker once put them elsewhere.
        self.event_offsets_predictable = True
        self.sizes = ValueLimits(0, 0)  # read from the broker at start
        consumer = group_consumer(
            settings.kafka_bootstrap, self.group_id, settings.processor_session_timeout_ms
        )
        super().__init__(list(input_topics(settings)), consumer, self._new_worker)

    def _new_worker(self, partition: int) -> CommandPartition:
        return self.worker(self, partition)

    async def start_dependencies(self) -> None:
        s = self.settings
        await ensure_topics(s)
        self.sizes = await value_limits(
            s.kafka_bootstrap,
            [s.events_topic, s.outcomes_topic, s.processor_changelog_topic, s.catalogue_topic],
            s.dlq_topic,
        )
        self.limits = Limits(max_event_bytes=self.sizes.output - STAMP_BYTES)
        await self.table.start()

    async def stop_dependencies(self) -> None:
        await self.table.stop()


async def run_processor(settings: Settings, metrics_port: int = 0) -> None:
    serve_metrics(metrics_port)
    await Processor(settings).run(stop_on_signals())
