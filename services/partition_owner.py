"""A consumer-group member that owns input partitions and answers each with its own worker.

Both exactly-once processors (commands -> events, usage reports -> usage log) are one of these:
the group shares the input partitions among its members; for each partition it owns a member
runs a worker (state, transactional producer, task) built by `new_worker`. The guarantees rest
on what happens around ownership, which is the same for both and therefore lives here:

- A worker is started (its producer fences any previous owner, its state is rebuilt from the
  log) before the consumer is positioned at the partition's committed offset, which was written
  in the same transaction as the output the state was rebuilt from.
- Before a rebalance, batches in flight commit and queued input is dropped; a partition that
  comes back keeps its worker and is positioned again at its next unanswered offset (had another
  member owned it in between, that member's producer fenced ours: our next commit fails).
- A worker whose batch failed may hold uncommitted decisions: its partition is paused and the
  worker rebuilt from the log before anything more is answered.
- A partition whose queue grows past `backlog_limit` stops being fetched until it drains.

`QueuedWorker` is the worker's half: a queue of fetched input that a task answers in batches
(`process`), so each partition commits at its own pace while the consumer keeps fetching.
"""

from __future__ import annotations

import asyncio
import logging
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Protocol

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.structs import ConsumerRecord

from services.log_reader import FETCH_MAX_WAIT_MS

log = logging.getLogger(__name__)


def group_consumer(bootstrap: str, group_id: str, session_timeout_ms: int, **options):
    """The consumer of a group member: read_committed, offsets committed only inside the
    output transactions, never automatically."""
    return AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
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


class Worker(Protocol):
    next_offset: int  # the partition's next input offset to answer

    @property
    def backlog(self) -> int: ...
    async def start(self) -> None: ...
    async def stop(self) -> None: ...
    def run(self, on_failure: Callable[[int], None]) -> None: ...
    def feed(self, records: list[ConsumerRecord]) -> None: ...
    async def quiesce(self) -> None: ...


class QueuedWorker(ABC):
    """Fetched input queued, answered in batches by one task, one batch at a time."""

    label = "partition"  # in log lines
    max_batch = 2000  # input records answered in one transaction
    tick: float | None = None  # also answer (an empty batch) this often when idle

    def __init__(self, partition: int) -> None:
        self.partition = partition
        self.next_offset = 0  # the partition's next input offset to answer
        self._queue: list[ConsumerRecord] = []
        self._fed_until = 0  # next offset feed() accepts: a re-fetch never queues twice
        self._ready = asyncio.Event()
        self._busy = asyncio.Lock()  # held while a batch is being answered and committed
        self._task: asyncio.Task | None = None

    @abstractmethod
    async def process(self, records: list[ConsumerRecord]) -> None:
        """Answers a batch and commits all it produced; on any error the state may hold what
        was never committed, and the owner rebuilds this worker."""

    def run(self, on_failure: Callable[[int], None]) -> None:
        """Starts answering what feed() queues; on an error calls on_failure(partition) and
        stops."""
        self._fed_until = self.next_offset
        self._task = asyncio.create_task(self._answer_queued(on_failure))

    def feed(self, records: list[ConsumerRecord]) -> None:
        fresh = [r for r in records if r.offset >= self._fed_until]
        if fresh:
            self._queue.extend(fresh)
            self._fed_until = fresh[-1].offset + 1
            self._ready.set()

    def wake(self) -> None:
        """Something besides input needs answering (the worker's own business)."""
        self._ready.set()

    @property
    def backlog(self) -> int:
        return len(self._queue)

    async def quiesce(self) -> None:
        """Waits for the batch in flight to commit and drops what is queued: after this the
        consumer must be positioned at `next_offset` again."""
        async with self._busy:
            self._queue.clear()
            self._fed_until = self.next_offset

    async def stop_answering(self) -> None:
        if self._task is not None:
            async with self._busy:  # never cancel a transaction half-way if it can finish
                self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _answer_queued(self, on_failure: Callable[[int], None]) -> None:
        while True:
            try:
                async with asyncio.timeout(self.tick):
                    await self._ready.wait()
            except TimeoutError:
                pass  # a tick
            async with self._busy:
                batch = self._queue[: self.max_batch]
                self._queue = self._queue[self.max_batch :]
                if not self._queue:
                    self._ready.clear()
                if not batch and self.tick is None:
                    continue
                try:
                    await self.process(batch)
                except Exception:
                    log.warning(
                        "%s %d: batch failed; rebuilding from the log",
                        self.label,
                        self.partition,
                        exc_info=True,
                    )
                    on_failure(self.partition)
                    return


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
        self.partitions: dict[int, Worker] = {}
        self.broken: set[int] = set()  # partitions whose last batch failed: rebuilt before use
        self.backlogged: set[int] = set()  # partitions paused until their queue drains
        self.lock = asyncio.Lock()  # a rebalance waits for the batches in flight

    # --- what a processor may add (the defaults do nothing) ------------------------------------

    async def start_dependencies(self) -> None:
        """Before consuming: topics, readers of other partitions, ..."""

    async def stop_dependencies(self) -> None:
        """After the last partition is given up."""

    async def before_acquire(self, partition: int) -> None:
        """Before the worker of a newly owned partition starts."""

    async def after_acquire(self, worker: Worker) -> None:
        """Once the worker is started and the consumer positioned, before it answers."""

    async def after_release(self, partition: int, worker: Worker) -> None:
        """Once the worker of a given-up partition has stopped."""

    async def after_assignment(self) -> None:
        """Once a rebalance's assignment is in place."""

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
            await self.stop_dependencies()

    def _tp(self, partition: int) -> TopicPartition:
        return TopicPartition(self.topic, partition)

    def _failed(self, partition: int) -> None:
        self.broken.add(partition)
        self.consumer.pause(self._tp(partition))

    def _apply_backpressure(self) -> None:
        for partition, worker in self.partitions.items():
            tp = self._tp(partition)
            if worker.backlog > self.backlog_limit and partition not in self.backlogged:
                self.backlogged.add(partition)
                self.consumer.pause(tp)
            elif worker.backlog <= self.backlog_limit // 2 and partition in self.backlogged:
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
                    "%s partition %d: rebuild failed, will retry",
                    self.name,
                    partition,
                    exc_info=True,
                )
                await asyncio.sleep(0.5)
                continue
            self.broken.discard(partition)
            self.backlogged.discard(partition)
            self.consumer.resume(self._tp(partition))

    async def _acquire(self, partition: int) -> None:
        await self.before_acquire(partition)
        worker = self.new_worker(partition)
        self.partitions[partition] = worker
        await worker.start()
        tp = self._tp(partition)
        # The committed offset was written in the same transaction as the output just folded.
        worker.next_offset = await self.consumer.committed(tp) or 0
        self.consumer.seek(tp, worker.next_offset)
        await self.after_acquire(worker)
        worker.run(self._failed)

    async def _release(self, partition: int) -> None:
        worker = self.partitions.pop(partition, None)
        if worker is not None:
            await worker.stop()
            await self.after_release(partition, worker)


class _Rebalance(ConsumerRebalanceListener):
    def __init__(self, owner: PartitionOwner) -> None:
        self.owner = owner

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        # Nothing is answered until the assignment that follows.
        async with self.owner.lock:
            for worker in self.owner.partitions.values():
                await worker.quiesce()

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        owner = self.owner
        async with owner.lock:
            kept = {tp.partition for tp in assigned}
            for partition in [p for p in owner.partitions if p not in kept]:
                await owner._release(partition)
                owner.broken.discard(partition)
            for tp in assigned:
                worker = owner.partitions.get(tp.partition)
                if worker is not None and tp.partition not in owner.broken:
                    await worker.quiesce()
                    owner.consumer.seek(tp, worker.next_offset)
                    owner.backlogged.discard(tp.partition)
                    owner.consumer.resume(tp)
                    continue
                try:
                    await owner._release(tp.partition)
                    await owner._acquire(tp.partition)
                    owner.broken.discard(tp.partition)
                    owner.backlogged.discard(tp.partition)
                except Exception:
                    log.warning(
                        "%s partition %d: recovery failed, will retry",
                        owner.name,
                        tp.partition,
                        exc_info=True,
                    )
                    owner.broken.add(tp.partition)
                    owner.consumer.pause(tp)
            await owner.after_assignment()
        log.info("%s owns partitions %s", owner.name, sorted(owner.partitions))
