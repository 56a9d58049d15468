"""`fleetstate network-gateway`: the relay and the ingress, each a consumer group of its own
on the partition runtime (services/runtime), so both are exactly-once and scale out.

The relay reads the events log and writes, in the transaction that commits its input offset,
the message for the network of every queued device command: each command reaches the network
once, however often the relay restarts. The ingress reads what the network sends and writes,
in the same way, one command per message to the topic only fleetstate's processors write; a
record that is no valid message is dead-lettered with its reason, and the next one answered.
Neither keeps state: the committed offset is all a new owner needs.
"""

from __future__ import annotations

import asyncio
import logging
from abc import abstractmethod

from aiokafka.structs import ConsumerRecord

from events import network
from events.codec import InvalidMessage, decode_event, encode_command
from events.commands import partition_key
from services.config import Settings
from services.lifecycle import serve_metrics, stop_on_signals
from services.log_reader import group_consumer
from services.network.translate import command_of, to_network
from services.runtime.dead_letters import dead_letter
from services.runtime.limits import ValueLimits, value_limits
from services.runtime.metrics import RuntimeMetrics
from services.runtime.owner import PartitionOwner
from services.runtime.worker import PartitionWorker
from services.topics import ensure_topics

log = logging.getLogger(__name__)

# The gateway runs with the processor's credentials on the locked-down bus (services/acls.py).
RELAY_GROUP, INGRESS_GROUP = "fleetstate-gateway-relay", "fleetstate-gateway-ingress"
RELAY_METRICS, INGRESS_METRICS = RuntimeMetrics("network_relay"), RuntimeMetrics("network_ingress")


class _Stateless(PartitionWorker):
    """A partition answered record by record into one transaction per batch."""

    def __init__(self, owner: _Gateway, partition: int, input_topic: str) -> None:
        s = owner.settings
        super().__init__(s, partition, owner.group_id, owner.sizes, None, input_topic)
        self.owner = owner

    async def restore(self, changelog: dict[bytes, bytes]) -> None:
        """Nothing to restore: the committed input offset is where it goes on."""

    async def process(self, records: list[ConsumerRecord]) -> None:
        records = self.unanswered(records)
        if not records:
            return
        async with self.transaction() as txn:
            for record in records:
                try:
                    topic, key, value = self.answer(record)
                except InvalidMessage as exc:
                    log.warning("%s %d: offset %d dead-lettered: %s", self.label,
                                self.partition, record.offset, exc)  # fmt: skip
                    key, value, headers = dead_letter(record, str(exc), self.sizes.dead_letter)
                    await txn.send(self.settings.network_dlq_topic, value, key=key, headers=headers)
                    continue
                if topic is not None:
                    await txn.send(topic, value, key=key)
            await self.commit_input(txn, self.positions_after(records))
        self.positions = self.positions_after(records)

    @abstractmethod
    def answer(self, record: ConsumerRecord) -> tuple[str | None, bytes | None, bytes | None]:
        """(topic, key, value) of the record `record` calls for; topic None: none."""


class RelayPartition(_Stateless):
    service = "gateway-relay"
    metrics = RELAY_METRICS
    label = "relay partition"

    def __init__(self, owner: _Gateway, partition: int) -> None:
        super().__init__(owner, partition, owner.settings.events_topic)

    def answer(self, record: ConsumerRecord):
        message = to_network(decode_event(record.value))
        if message is None:
            return None, None, None
        # Keyed by ICCID (or profile): one SIM's messages keep their order on the network's side.
        return self.settings.network_out_topic, network.key_of(message), network.encode(message)


class IngressPartition(_Stateless):
    service = "gateway-ingress"
    metrics = INGRESS_METRICS
    label = "ingress partition"

    def __init__(self, owner: _Gateway, partition: int) -> None:
        super().__init__(owner, partition, owner.settings.network_in_topic)

    def answer(self, record: ConsumerRecord):
        if record.value is None:
            raise network.NetworkMessageError("an empty record is no message")
        envelope = command_of(network.decode_from_network(record.value))
        topic = self.settings.internal_topic  # only fleetstate's processors write it
        return topic, partition_key(envelope).encode(), encode_command(envelope)


class _Gateway(PartitionOwner):
    fetch_max_records = 2000
    backlog_limit = 10_000

    def __init__(self, settings: Settings, group: str, input_topic: str, worker) -> None:
        self.settings = settings
        self.group_id = f"{group}.{input_topic}"
        self.sizes = ValueLimits(0, 0)  # read from the broker at start
        self.worker = worker
        consumer = group_consumer(
            settings.kafka_bootstrap, self.group_id, settings.processor_session_timeout_ms
        )
        super().__init__([input_topic], consumer, lambda partition: worker(self, partition))

    async def start_dependencies(self) -> None:
        s = self.settings
        await ensure_topics(s)
        outputs = [s.network_out_topic, s.internal_topic]
        self.sizes = await value_limits(s.kafka_bootstrap, outputs, s.network_dlq_topic)


class Relay(_Gateway):
    name = "network relay"

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings, RELAY_GROUP, settings.events_topic, RelayPartition)


class Ingress(_Gateway):
    name = "network ingress"

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings, INGRESS_GROUP, settings.network_in_topic, IngressPartition)


async def run_gateway(settings: Settings, metrics_port: int = 0) -> None:
    serve_metrics(metrics_port)
    stop = stop_on_signals()
    await asyncio.gather(Relay(settings).run(stop), Ingress(settings).run(stop))
