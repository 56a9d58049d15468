"""The simulator's loop: read network_out as a consumer group, answer each message with its
receipts on network_in, commit the offsets once the broker has the receipts.

At least once, like a real network: a crash between the receipts and the commit answers the
batch again, with the same receipt ids. A record that is not a valid message is logged with
its reason, counted and skipped; it never stops the simulator.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Set
from datetime import UTC, datetime

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.errors import CommitFailedError
from aiokafka.structs import ConsumerRecord, OffsetAndMetadata, TopicPartition

from events.kafka_security import kafka_options
from events.network import NetworkMessageError, decode_to_network, encode, key_of
from services.config import Settings
from services.echo import shown
from services.network_sim.answers import answer
from services.topics import ensure_topics, topic_specs

log = logging.getLogger(__name__)

GROUP_ID = "fleetstate-network-sim"


def group_id(settings: Settings) -> str:
    # The topic in the name, like the processors' groups: simulators on other topics (a test's
    # own) never join one group and take each other's partitions.
    return f"{GROUP_ID}.{settings.network_out_topic}"


class NetworkSim:
    def __init__(self, settings: Settings, unreachable: Set[str] = frozenset()) -> None:
        self.settings = settings
        self.unreachable = frozenset(unreachable)
        self.answered = 0  # messages answered (each with one or two receipts)
        self.malformed = 0  # records skipped: not a message for a device
        self._consumer = AIOKafkaConsumer(
            settings.network_out_topic,
            **kafka_options(settings.kafka_bootstrap),
            group_id=group_id(settings),
            enable_auto_commit=False,
            # The relay writes network_out in transactions: an aborted message was never sent.
            isolation_level="read_committed",
            # A new simulator answers what was sent before it first started.
            auto_offset_reset="earliest",
        )
        self._producer = AIOKafkaProducer(
            **kafka_options(settings.kafka_bootstrap), acks="all", enable_idempotence=True
        )

    async def run(self, stop: asyncio.Event) -> None:
        s = self.settings
        # Its two topics only: the network's principal may see nothing else.
        names = {s.network_out_topic, s.network_in_topic}
        await ensure_topics(s, [spec for spec in topic_specs(s) if spec.name in names])
        await self._producer.start()
        await self._consumer.start()
        log.info("network-sim: answering %s on %s", s.network_out_topic, s.network_in_topic)
        try:
            while not stop.is_set():
                batches = await self._consumer.getmany(timeout_ms=500, max_records=500)
                records = [record for batch in batches.values() for record in batch]
                if records:
                    await self._answer(records)
        finally:
            await self._consumer.stop()
            await self._producer.stop()
            log.info("network-sim: stopped (%d answered, %d malformed)", *self.counts)

    @property
    def counts(self) -> tuple[int, int]:
        return self.answered, self.malformed

    async def _answer(self, records: list[ConsumerRecord]) -> None:
        now = datetime.now(UTC)
        acks = []
        for record in records:
            try:
                message = decode_to_network(record.value or b"")
            except NetworkMessageError as exc:
                self.malformed += 1
                log.warning(
                    "network-sim: skipped %s[%d]@%d (key %s): %s",
                    record.topic,
                    record.partition,
                    record.offset,
                    shown((record.key or b"").decode(errors="replace")),
                    exc.reason,
                )
                continue
            for receipt in answer(message, self.unreachable, now):
                acks.append(
                    await self._producer.send(
                        self.settings.network_in_topic, encode(receipt), key=key_of(receipt)
                    )
                )
            self.answered += 1
        await asyncio.gather(*acks)  # the broker has every receipt: only then the commit
        offsets = {
            TopicPartition(r.topic, r.partition): OffsetAndMetadata(r.offset + 1, "")
            for r in records  # in offset order per partition: the last one stays
        }
        try:
            await self._consumer.commit(offsets)
        except CommitFailedError as exc:  # a rebalance took the partitions: answered again
            log.warning("network-sim: offsets not committed (%s); the batch will be resent", exc)


async def run_network_sim(settings: Settings, unreachable: Set[str], stop: asyncio.Event) -> None:
    await NetworkSim(settings, unreachable).run(stop)
