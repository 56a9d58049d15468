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

from services.runtime.changelog import read_changelog
from services.runtime.producer import transactional_producer
from services.runtime.transaction import Transaction

log = logging.getLogger(__name__)


class Worker(Protocol):
    partition: int
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
        was never committed, and the owner replaces this worker by a restored one."""

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
    `async with self.transaction() as txn:` with `self.commit_input(txn, next_offset)`."""

    def __init__(
        self,
        partition: int,
        *,
        bootstrap: str,
        input_topic: str,
        group_id: str,
        changelog_topic: str,
        transactional_id: str,
    ) -> None:
        super().__init__(partition)
        self.bootstrap = bootstrap
        self.group_id = group_id
        self.input_tp = TopicPartition(input_topic, partition)
        self.changelog_tp = TopicPartition(changelog_topic, partition)
        self.producer = transactional_producer(bootstrap, transactional_id)
        self.restore_seconds = 0.0

    async def start(self) -> None:
        """Fences every earlier owner (their open transaction is aborted, a committing one
        completes), then restores the state from what they committed."""
        await self.producer.start()
        started = time.monotonic()
        await self.restore(await read_changelog(self.bootstrap, self.changelog_tp))
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
        return Transaction(self.producer, self.changelog_tp, self.before_commit)

    def commit_input(self, txn: Transaction, next_offset: int) -> None:
        txn.commit_input({self.input_tp: next_offset}, self.group_id)

    async def before_commit(self) -> None:
        """Runs inside every transaction just before its commit (tests fail or fence it)."""
