"""The worker of one owned input partition: its queue, its state's restore, its transactions.

`QueuedWorker` is a queue of fetched input that one task answers in batches (`process`), so
each partition commits at its own pace while the consumer keeps fetching. `PartitionWorker`
adds what every exactly-once processor needs around it: a transactional producer that fences
earlier owners, the partition's changelog, and the restore that rebuilds the state from them
before anything is answered.
"""

from __future__ import annotations

import asyncio
import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Protocol

from aiokafka import TopicPartition
from aiokafka.structs import ConsumerRecord

from services.config import Settings
from services.runtime.changelog import INPUT, decode_positions, read_changelog
from services.runtime.limits import ValueLimits
from services.runtime.metrics import RuntimeMetrics
from services.runtime.producer import transactional_producer
from services.runtime.transaction import Transaction

log = logging.getLogger(__name__)


class Worker(Protocol):
    partition: int
    # The next input offset to answer, per input topic's partition `partition`.
    positions: dict[TopicPartition, int]

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
        self.positions: dict[TopicPartition, int] = {}  # next input offset to answer, per input
        self._queue: list[ConsumerRecord] = []
        # The next offset feed() accepts, per input: a re-fetch never queues a record twice.
        self._fed_until: dict[str, int] = {}
        self._merge = False  # several inputs: queued records are ordered by broker time
        self._ready = asyncio.Event()
        self._busy = asyncio.Lock()  # held while a batch is being answered and committed
        self._task: asyncio.Task | None = None

    @abstractmethod
    async def process(self, records: list[ConsumerRecord]) -> None:
        """Answers a batch and commits all it produced; on any error the state may hold what
        was never committed, and the owner replaces this worker by a restored one."""

    def run(self, on_failure: Callable[[int], None]) -> None:
        """Starts answering what feed() queues; on an error calls on_failure(partition) and
        stops."""
        self._fed_until = {tp.topic: offset for tp, offset in self.positions.items()}
        self._merge = len(self.positions) > 1
        self._task = asyncio.create_task(self._answer_queued(on_failure))

    def feed(self, records: list[ConsumerRecord]) -> None:
        """Queues fetched records of one input partition, in offset order. With several
        inputs, what is queued is answered in the order the broker appended it (inputs keep
        broker time, non-decreasing in each partition, so the stable sort keeps each one's
        order); nothing waits for an input that has not been fetched yet."""
        if not records:
            return
        topic = records[0].topic
        fresh = [r for r in records if r.offset >= self._fed_until.get(topic, 0)]
        if fresh:
            self._queue.extend(fresh)
            if self._merge:
                self._queue.sort(key=_timestamp)
            self._fed_until[topic] = fresh[-1].offset + 1
            self._ready.set()

    def unanswered(self, records: list[ConsumerRecord]) -> list[ConsumerRecord]:
        """`records` less those before the committed positions: a fetch in flight when the
        consumer was positioned can deliver records again, and those are answered already."""
        return [r for r in records if r.offset >= self.positions.get(_tp_of(r), 0)]

    def positions_after(self, records: list[ConsumerRecord]) -> dict[TopicPartition, int]:
        """The positions once `records` (unanswered, in order per input) are answered."""
        after = dict(self.positions)
        for record in records:
            after[_tp_of(record)] = record.offset + 1
        return after

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
            self._fed_until = {tp.topic: offset for tp, offset in self.positions.items()}

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
                        "%s %d: batch failed; its state is dropped and restored",
                        self.label,
                        self.partition,
                        exc_info=True,
                    )
                    on_failure(self.partition)
                    return


class PartitionWorker(QueuedWorker):
    """A partition's state, restored from its changelog, answered in transactions.

    A subclass builds its state in `restore` and answers batches in `process`, each inside
    `async with self.transaction() as txn:` with `self.commit_input(txn, positions)`."""

    service: str  # each kind of worker's: names its producers' transactional ids
    metrics: RuntimeMetrics  # the service's

    def __init__(
        self,
        settings: Settings,
        partition: int,
        group_id: str,
        sizes: ValueLimits,
        changelog_topic: str | None,
        input_topic: str,
    ) -> None:
        super().__init__(partition)
        self.settings = settings
        self.bootstrap = settings.kafka_bootstrap
        self.group_id = group_id
        self.sizes = sizes  # the largest record each output topic takes
        # None: a stateless worker, whose committed input offset is all it restores.
        self.changelog_tp = (
            None if changelog_topic is None else TopicPartition(changelog_topic, partition)
        )
        # Every worker's state follows the events partition of its number (co-partitioned).
        self.events_tp = TopicPartition(settings.events_topic, partition)
        # One id per service and input partition, for ever: a new owner fences the old one.
        transactional_id = f"fleetstate-{self.service}.{input_topic}.{partition}"
        self.producer = transactional_producer(self.bootstrap, transactional_id)
        self.restore_seconds = 0.0
        # The input answered, as the changelog holds it: where the owner starts the worker.
        self.restored_positions: dict[TopicPartition, int] = {}

    async def start(self) -> None:
        """Fences every earlier owner (their open transaction is aborted, a committing one
        completes), then restores the state from what they committed."""
        await self.producer.start()
        started = time.monotonic()
        changelog = {}
        if self.changelog_tp is not None:
            changelog = await read_changelog(self.bootstrap, self.changelog_tp)
        if INPUT in changelog:
            self.restored_positions = decode_positions(changelog.pop(INPUT))
        await self.restore(changelog)
        self.restore_seconds = time.monotonic() - started

    @abstractmethod
    async def restore(self, changelog: dict[bytes, bytes]) -> None:
        """Builds the state from the changelog's latest values, then folds the tail of the
        source logs after the position the changelog records."""

    async def stop(self) -> None:
        await self.stop_answering()
        try:
            await self.producer.stop()
        except Exception:  # a fenced or broken producer has nothing left to flush
            log.debug("producer of %s %d stopped with an error", self.label, self.partition)

    def transaction(self) -> Transaction:
        return Transaction(
            self.producer,
            self.changelog_tp,
            self.before_commit,
            self.metrics.transaction_seconds.observe,
        )

    async def commit_input(self, txn: Transaction, positions: dict[TopicPartition, int]) -> None:
        """The input this transaction answers: the positions of every input partition (all
        of them, so a restore finds each committed with the state it was answered into)."""
        await txn.commit_input(positions, self.group_id)

    async def before_commit(self) -> None:
        """Runs inside every transaction just before its commit (tests fail or fence it)."""


def _tp_of(record: ConsumerRecord) -> TopicPartition:
    return TopicPartition(record.topic, record.partition)


def _timestamp(record: ConsumerRecord) -> int:
    return record.timestamp
