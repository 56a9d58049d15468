"""`fleetstate processor`: the command processor, one member of a consumer group.

Why aiokafka and not a faust agent: the guarantee rests on controlling, per input partition, the
transactional producer, the moment state is rebuilt and the offset committed with the output.
faust-streaming's exactly-once mode does this internally, is marked experimental and has open
duplicate bugs (ENGINEERING.md, guarantee 2), so the processor takes the "robust alternative":
plain aiokafka with one transactional producer per partition, proven by the kill tests.

Several instances share the command partitions. On every rebalance an instance gives up its
revoked partitions (after the batch in flight commits) and rebuilds the state of the ones it
gains from the log before deciding anything for them.
"""

from __future__ import annotations

import asyncio
import logging

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition

from services.config import Settings
from services.domain.state import State
from services.log_reader import FETCH_MAX_WAIT_MS
from services.processor import metrics
from services.processor.catalogue_reader import CatalogueReader
from services.processor.partition import PartitionProcessor
from services.topics import ensure_topics

log = logging.getLogger(__name__)

GROUP_ID = "fleetstate-processor"
FETCH_MAX_RECORDS = 2000
BACKLOG_LIMIT = 10_000  # queued commands per partition before its fetching pauses


class Processor:
    def __init__(self, settings: Settings, group_id: str = GROUP_ID) -> None:
        self.settings = settings
        self.group_id = f"{group_id}.{settings.commands_topic}"
        self.state = State()
        self.partitions: dict[int, PartitionProcessor] = {}
        self.broken: set[int] = set()  # partitions whose last batch failed: rebuilt before use
        self.backlogged: set[int] = set()  # partitions paused until their queue drains
        self.lock = asyncio.Lock()  # a rebalance waits for the batches in flight
        self.catalogue = CatalogueReader(settings, self.state)
        self.consumer = AIOKafkaConsumer(
            bootstrap_servers=settings.kafka_bootstrap,
            group_id=self.group_id,
            enable_auto_commit=False,
            isolation_level="read_committed",
            auto_offset_reset="earliest",
            session_timeout_ms=settings.processor_session_timeout_ms,
            heartbeat_interval_ms=1_000,
            # Also the rebalance timeout: how long a rebalance waits for members to rejoin.
            max_poll_interval_ms=60_000,
            fetch_max_wait_ms=FETCH_MAX_WAIT_MS,
        )

    async def run(self, stop: asyncio.Event) -> None:
        await ensure_topics(self.settings)
        await self.catalogue.start(self.settings.partitions)
        await self.consumer.start()
        self.consumer.subscribe([self.settings.commands_topic], listener=_Rebalance(self))
        try:
            while not stop.is_set():
                batches = await self.consumer.getmany(timeout_ms=100, max_records=FETCH_MAX_RECORDS)
                async with self.lock:
                    await self._repair_broken()
                    for tp, records in batches.items():
                        worker = self.partitions.get(tp.partition)
                        if records and worker is not None and tp.partition not in self.broken:
                            worker.feed(records)
                    self._apply_backpressure()
        finally:
            async with self.lock:
                for partition in list(self.partitions):
                    await self._release(partition)
            await self.consumer.stop()
            await self.catalogue.stop()

    def _failed(self, partition: int) -> None:
        # The state may hold decisions that were never committed: throw it away and rebuild.
        self.broken.add(partition)
        self.consumer.pause(TopicPartition(self.settings.commands_topic, partition))

    def _apply_backpressure(self) -> None:
        for partition, worker in self.partitions.items():
            tp = TopicPartition(self.settings.commands_topic, partition)
            if worker.backlog > BACKLOG_LIMIT and partition not in self.backlogged:
                self.backlogged.add(partition)
                self.consumer.pause(tp)
            elif worker.backlog <= BACKLOG_LIMIT // 2 and partition in self.backlogged:
                self.backlogged.discard(partition)
                if partition not in self.broken:
                    self.consumer.resume(tp)

    async def _repair_broken(self) -> None:
        for partition in list(self.broken):
            try:
                await self._release(partition)
                await self._acquire(partition)
            except Exception:
                log.warning("partition %d: rebuild failed, will retry", partition, exc_info=True)
                await asyncio.sleep(0.5)
                continue
            self.broken.discard(partition)
            self.backlogged.discard(partition)
            self.consumer.resume(TopicPartition(self.settings.commands_topic, partition))

    async def _acquire(self, partition: int) -> None:
        await self.catalogue.exclude(partition)
        worker = PartitionProcessor(self.settings, partition, self.state, self.group_id)
        self.partitions[partition] = worker
        await worker.start()
        tp = TopicPartition(self.settings.commands_topic, partition)
        # The committed offset was written in the same transaction as the events folded above.
        worker.next_command = await self.consumer.committed(tp) or 0
        self.consumer.seek(tp, worker.next_command)
        worker.run(self._failed)
        metrics.PARTITIONS_OWNED.set(len(self.partitions))

    async def _release(self, partition: int) -> None:
        worker = self.partitions.pop(partition, None)
        if worker is not None:
            await worker.stop()
            await self.catalogue.include(partition, worker.events_end)
        metrics.PARTITIONS_OWNED.set(len(self.partitions))


class _Rebalance(ConsumerRebalanceListener):
    """Keeps the state of partitions that come back to this process after a rebalance.

    The group revokes every partition before each rebalance and then assigns them again, most
    often to the same members. Rebuilding a returning partition's state would be wasted work,
    and keeping it is safe: had another process owned it in between, that process's producer
    would have fenced ours, our next commit would fail, and the partition would be rebuilt.
    """

    def __init__(self, processor: Processor) -> None:
        self.processor = processor

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        # The batches in flight commit first and what is queued is dropped; nothing is
        # answered until the assignment that follows, which positions each kept partition
        # at its next unanswered command.
        async with self.processor.lock:
            for worker in self.processor.partitions.values():
                await worker.quiesce()

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        processor = self.processor
        async with processor.lock:
            kept = {tp.partition for tp in assigned}
            for partition in [p for p in processor.partitions if p not in kept]:
                await processor._release(partition)
                processor.broken.discard(partition)
            for tp in assigned:
                worker = processor.partitions.get(tp.partition)
                if worker is not None and tp.partition not in processor.broken:
                    await worker.quiesce()
                    processor.consumer.seek(tp, worker.next_command)
                    processor.backlogged.discard(tp.partition)
                    processor.consumer.resume(tp)
                    continue
                try:
                    await processor._release(tp.partition)
                    await processor._acquire(tp.partition)
                    processor.broken.discard(tp.partition)
                    processor.backlogged.discard(tp.partition)
                except Exception:
                    log.warning(
                        "partition %d: recovery failed, will retry", tp.partition, exc_info=True
                    )
                    processor.broken.add(tp.partition)
                    processor.consumer.pause(tp)
            await processor.catalogue.caught_up()
        log.info("processor owns partitions %s", sorted(processor.partitions))


async def run_processor(settings: Settings, metrics_port: int = 0) -> None:
    import signal

    if metrics_port:
        from prometheus_client import start_http_server

        start_http_server(metrics_port, addr="127.0.0.1")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await Processor(settings).run(stop)
