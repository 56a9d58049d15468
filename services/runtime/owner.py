"""A consumer-group member that owns input partitions and answers each with its own worker.

Every exactly-once processor is one of these: the group shares the input partitions among
its members; for each partition a member owns it runs a worker (state, transactional
producer, task) built by `new_worker`. The guarantees rest on what happens around ownership:

- A newly assigned partition is paused and its worker restored in a task of its own, never in
  the rebalance callback: the callback returns at once, heartbeats go on, and a group whose
  members restore big states still settles in one rebalance.
- A restored worker (its producer has fenced every earlier owner, its state is what they
  committed) is positioned at the partition's committed offset, which was written in the
  same transaction as that state, and the partition resumes.
- Before a rebalance, batches in flight commit and queued input is dropped; a partition that
  comes back keeps its worker and is positioned again at its next unanswered offset (had
  another member owned it meanwhile, that member's producer fenced ours: our next commit
  fails, and the next point applies).
- A worker whose batch failed may hold uncommitted decisions: it is dropped, its partition
  paused and restored by a new worker before anything more is answered.
- A partition whose queue grows past `backlog_limit` stops being fetched until it drains.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition

from events.kafka_security import kafka_options
from services.log_reader import FETCH_MAX_WAIT_MS
from services.runtime.worker import Worker

log = logging.getLogger(__name__)

RETRY_SECONDS = 1.0  # before restoring again a partition whose restore failed


def group_consumer(bootstrap: str, group_id: str, session_timeout_ms: int, **options):
    """The consumer of a group member: read_committed, offsets committed only inside the
    output transactions, never automatically."""
    return AIOKafkaConsumer(
        **kafka_options(bootstrap),
        group_id=group_id,
        enable_auto_commit=False,
        isolation_level="read_committed",
        auto_offset_reset="earliest",
        session_timeout_ms=session_timeout_ms,
        heartbeat_interval_ms=1_000,
        # Also the rebalance timeout: how long a rebalance waits for members to rejoin.
        max_poll_interval_ms=60_000,
        fetch_max_wait_ms=FETCH_MAX_WAIT_MS,
        **options,
    )


class PartitionOwner:
    name = "processor"  # in log lines
    fetch_max_records = 2000
    backlog_limit = 10_000

    def __init__(
        self, topic: str, consumer: AIOKafkaConsumer, new_worker: Callable[[int], Worker]
    ) -> None:
        self.topic = topic
        self.consumer = consumer
        self.new_worker = new_worker  # the worker of a partition now owned (not started yet)
        self.partitions: dict[int, Worker] = {}  # restored and answering
        self.restoring: dict[int, tuple[Worker, asyncio.Task]] = {}
        self.backlogged: set[int] = set()  # partitions paused until their queue drains
        self.lock = asyncio.Lock()  # rebalances, restores and feeding never interleave
        self.ready = asyncio.Event()  # set whenever every assigned partition answers
        self._failures: dict[int, int] = {}  # partition -> restores failed in a row

    # --- what a processor may add (the defaults do nothing) ------------------------------------

    async def start_dependencies(self) -> None:
        """Before consuming: topics, tables every partition reads, ..."""

    async def stop_dependencies(self) -> None:
        """After the last partition is given up."""

    async def after_ready(self, worker: Worker) -> None:
        """Once a worker is restored and positioned, before it answers."""

    async def after_release(self, partition: int, worker: Worker) -> None:
        """Once the worker of a given-up partition has stopped."""

    # --- the loop ----------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        await self.start_dependencies()
        await self.consumer.start()
        self.consumer.subscribe([self.topic], listener=_Rebalance(self))
        try:
            while not stop.is_set():
                batches = await self.consumer.getmany(
                    timeout_ms=100, max_records=self.fetch_max_records
                )
                async with self.lock:
                    await self._start_restored()
                    for tp, records in batches.items():
                        worker = self.partitions.get(tp.partition)
                        if records and worker is not None:
                            worker.feed(records)
                    self._apply_backpressure()
        finally:
            async with self.lock:
                for partition in list(self.restoring):
                    await self._cancel_restore(partition)
                for partition in list(self.partitions):
                    await self._release(partition)
            await self.consumer.stop()
            await self.stop_dependencies()

    def _tp(self, partition: int) -> TopicPartition:
        return TopicPartition(self.topic, partition)

    def _restore(self, partition: int, failed: Worker | None = None) -> None:
        """Pauses the partition and restores a new worker for it in a task."""
        self.consumer.pause(self._tp(partition))
        self.ready.clear()
        worker = self.new_worker(partition)
        delay = RETRY_SECONDS if self._failures.get(partition) else 0.0
        task = asyncio.create_task(self._start_worker(worker, failed, delay))
        self.restoring[partition] = (worker, task)

    async def _start_worker(self, worker: Worker, failed: Worker | None, delay: float) -> None:
        if failed is not None:
            await failed.stop()
        if delay:
            await asyncio.sleep(delay)
        await worker.start()

    async def _start_restored(self) -> None:
        """Positions and starts every worker whose restore is done (under the lock)."""
        for partition, (worker, task) in list(self.restoring.items()):
            if not task.done():
                continue
            del self.restoring[partition]
            error = None if task.cancelled() else task.exception()
            if task.cancelled() or error is not None:
                self._failures[partition] = self._failures.get(partition, 0) + 1
                log.warning(
                    "%s partition %d: restore failed, will retry",
                    self.name,
                    partition,
                    exc_info=error,
                )
                await worker.stop()
                self._restore(partition)
                continue
            self._failures.pop(partition, None)
            tp = self._tp(partition)
            if tp not in self.consumer.assignment():  # given up while it was restoring
                await worker.stop()
                continue
            # The committed offset was written in the same transaction as the state restored.
            worker.next_offset = await self.consumer.committed(tp) or 0
            self.consumer.seek(tp, worker.next_offset)
            self.consumer.resume(tp)
            self.backlogged.discard(partition)
            self.partitions[partition] = worker
            await self.after_ready(worker)
            worker.run(self._failed)
            log.info(
                "%s partition %d ready at offset %d, restored in %.2fs",
                self.name,
                partition,
                worker.next_offset,
                getattr(worker, "restore_seconds", 0.0),
            )
        if not self.restoring and not self.ready.is_set():
            self.ready.set()
            log.info("%s answers partitions %s", self.name, sorted(self.partitions))

    def _failed(self, partition: int) -> None:
        """A worker's batch failed: its state may hold what was never committed."""
        worker = self.partitions.pop(partition, None)
        if worker is not None:
            self._restore(partition, failed=worker)

    def _apply_backpressure(self) -> None:
        for partition, worker in self.partitions.items():
            tp = self._tp(partition)
            if worker.backlog > self.backlog_limit and partition not in self.backlogged:
                self.backlogged.add(partition)
                self.consumer.pause(tp)
            elif worker.backlog <= self.backlog_limit // 2 and partition in self.backlogged:
                self.backlogged.discard(partition)
                self.consumer.resume(tp)

    async def _cancel_restore(self, partition: int) -> None:
        worker, task = self.restoring.pop(partition)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await worker.stop()

    async def _release(self, partition: int) -> None:
        worker = self.partitions.pop(partition, None)
        if worker is not None:
            await worker.stop()
            await self.after_release(partition, worker)


class _Rebalance(ConsumerRebalanceListener):
    """Quick on purpose: it only stops, keeps or schedules; restores run in their tasks."""

    def __init__(self, owner: PartitionOwner) -> None:
        self.owner = owner

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        # Nothing is answered until the assignment that follows.
        async with self.owner.lock:
            for worker in list(self.owner.partitions.values()):
                await worker.quiesce()

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        owner = self.owner
        async with owner.lock:
            kept = {tp.partition for tp in assigned}
            for partition in [p for p in owner.restoring if p not in kept]:
                await owner._cancel_restore(partition)
            for partition in [p for p in owner.partitions if p not in kept]:
                await owner._release(partition)
            for tp in assigned:
                worker = owner.partitions.get(tp.partition)
                if worker is not None:
                    await worker.quiesce()
                    owner.consumer.seek(tp, worker.next_offset)
                    owner.backlogged.discard(tp.partition)
                elif tp.partition in owner.restoring:
                    owner.consumer.pause(tp)  # a new assignment starts unpaused
                else:
                    owner._restore(tp.partition)
            if not owner.restoring:
                owner.ready.set()
                log.info("%s answers partitions %s", owner.name, sorted(owner.partitions))
        log.info(
            "%s assigned partitions %s (restoring %s)",
            owner.name,
            sorted(kept),
            sorted(owner.restoring),
        )
