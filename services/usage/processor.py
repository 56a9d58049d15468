"""`fleetstate usage-processor`: usage reports -> usage log and threshold commands, exactly once.

One member of a consumer group on the usage topic. For each usage partition it owns it runs a
`UsagePartition` (state, transactional producer, worker task) and follows the events partition
of the same number. Rebalances are handled as in the command processor (services/processor/
app.py): batches in flight commit before partitions are given up; a partition that comes back
keeps its state (a new owner in between would have fenced our producer, failing our next
commit and forcing a rebuild); a partition whose batch failed is rebuilt from the logs.
"""

from __future__ import annotations

import asyncio
import logging

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition

from services.config import Settings
from services.log_reader import FETCH_MAX_WAIT_MS
from services.topics import ensure_topics
from services.usage import metrics
from services.usage.follower import EventsFollower
from services.usage.partition import UsagePartition

log = logging.getLogger(__name__)

GROUP_ID = "fleetstate-usage"
FETCH_MAX_RECORDS = 20_000
BACKLOG_LIMIT = 60_000  # queued reports per partition before its fetching pauses


class UsageProcessor:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.group_id = f"{GROUP_ID}.{settings.usage_topic}"
        self.partitions: dict[int, UsagePartition] = {}
        self.broken: set[int] = set()
        self.backlogged: set[int] = set()
        self.lock = asyncio.Lock()
        self.follower = EventsFollower(settings.kafka_bootstrap, settings.events_topic)
        self.consumer = AIOKafkaConsumer(
            bootstrap_servers=settings.kafka_bootstrap,
            group_id=self.group_id,
            enable_auto_commit=False,
            isolation_level="read_committed",
            auto_offset_reset="earliest",
            session_timeout_ms=settings.processor_session_timeout_ms,
            heartbeat_interval_ms=1_000,
            max_poll_interval_ms=60_000,
            fetch_max_wait_ms=FETCH_MAX_WAIT_MS,
            max_partition_fetch_bytes=8 * 1024 * 1024,
        )

    async def run(self, stop: asyncio.Event) -> None:
        await ensure_topics(self.settings)
        await self.follower.start()
        await self.consumer.start()
        self.consumer.subscribe([self.settings.usage_topic], listener=_Rebalance(self))
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
            await self.follower.stop()

    def _tp(self, partition: int) -> TopicPartition:
        return TopicPartition(self.settings.usage_topic, partition)

    def _failed(self, partition: int) -> None:
        self.broken.add(partition)
        self.consumer.pause(self._tp(partition))

    def _apply_backpressure(self) -> None:
        for partition, worker in self.partitions.items():
            tp = self._tp(partition)
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
                log.warning(
                    "usage partition %d: rebuild failed, will retry", partition, exc_info=True
                )
                await asyncio.sleep(0.5)
                continue
            self.broken.discard(partition)
            self.backlogged.discard(partition)
            self.consumer.resume(self._tp(partition))

    async def _acquire(self, partition: int) -> None:
        worker = UsagePartition(self.settings, partition, self.group_id, self.follower)
        self.partitions[partition] = worker
        await worker.start()
        tp = self._tp(partition)
        # The committed offset was written in the same transaction as the usage log folded above.
        worker.next_offset = await self.consumer.committed(tp) or 0
        self.consumer.seek(tp, worker.next_offset)
        await worker.follow_events()
        worker.run(self._failed)
        metrics.PARTITIONS_OWNED.set(len(self.partitions))

    async def _release(self, partition: int) -> None:
        worker = self.partitions.pop(partition, None)
        if worker is not None:
            await worker.stop()
        metrics.PARTITIONS_OWNED.set(len(self.partitions))


class _Rebalance(ConsumerRebalanceListener):
    def __init__(self, processor: UsageProcessor) -> None:
        self.processor = processor

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
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
                    processor.consumer.seek(tp, worker.next_offset)
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
                        "usage partition %d: recovery failed, will retry",
                        tp.partition,
                        exc_info=True,
                    )
                    processor.broken.add(tp.partition)
                    processor.consumer.pause(tp)
        log.info("usage processor owns partitions %s", sorted(processor.partitions))


async def run_usage_processor(settings: Settings, metrics_port: int = 0) -> None:
    import signal

    if metrics_port:
        from prometheus_client import start_http_server

        start_http_server(metrics_port, addr="127.0.0.1")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await UsageProcessor(settings).run(stop)
