"""One Kafka transaction of a worker: its output, its changelog changes, its input offset."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping

from aiokafka import AIOKafkaProducer, TopicPartition

from services.runtime.changelog import INPUT, encode_positions

log = logging.getLogger(__name__)

Headers = list[tuple[str, bytes]]


class Transaction:
    """`async with Transaction(...) as txn:` begins; leaving the block normally commits, an
    exception aborts (best effort: a fenced producer cannot, and the broker aborts it) and
    propagates. Nothing written inside is visible to read_committed readers until commit."""

    def __init__(
        self,
        producer: AIOKafkaProducer,
        changelog: TopicPartition | None = None,
        before_commit=None,
        committed: Callable[[float], None] | None = None,
    ) -> None:
        self.producer = producer
        self.changelog = changelog
        self._before_commit = before_commit  # a worker's hook: fault injection in tests
        self._committed = committed  # told the seconds from begin to commit
        self._offsets: asyncio.Future | None = None  # the input's offsets, on their way
        self.answers_input = False  # commit_input was called: the commit moves the input on
        self._began = 0.0

    async def __aenter__(self) -> Transaction:
        await self.producer.begin_transaction()
        self._began = time.monotonic()
        return self

    async def __aexit__(self, kind, exc, tb) -> None:
        if kind is None:
            try:
                if self._offsets is not None:
                    await self._offsets
                if self._before_commit is not None:
                    await self._before_commit()
                await self.producer.commit_transaction()
                if self._committed is not None:
                    self._committed(time.monotonic() - self._began)
                return
            except BaseException:
                await self._abort()
                raise
        await self._abort()

    async def _abort(self) -> None:
        if self._offsets is not None and not self._offsets.done():
            self._offsets.cancel()
        if self._offsets is not None:
            await asyncio.gather(self._offsets, return_exceptions=True)
        try:
            await self.producer.abort_transaction()
        except Exception:
            pass  # fenced or disconnected: the broker aborts it, the next owner restores

    async def send(
        self,
        topic: str,
        value: bytes | None,
        *,
        key: bytes | None = None,
        partition: int | None = None,
        headers: Headers | None = None,
    ) -> asyncio.Future:
        """Queues a record; the future gives its metadata (offset) once the broker has it."""
        return await self.producer.send(topic, value, key=key, partition=partition, headers=headers)

    async def write_changes(self, changes: Mapping[bytes, bytes | None]) -> None:
        """The worker's state changes, to its changelog partition (None deletes a key)."""
        assert self.changelog is not None, "this worker keeps no changelog"
        for key, value in changes.items():
            await self.producer.send(
                self.changelog.topic, value, key=key, partition=self.changelog.partition
            )

    async def commit_input(self, offsets: dict[TopicPartition, int], group_id: str) -> None:
        """The input answered by this transaction: committed with it, or not at all.

        A worker with a changelog keeps it there, one record beside its state: the transaction
        then spans only the partitions it writes, where the group's offsets would add two
        requests to the coordinator (AddOffsetsToTxn, TxnOffsetCommit) and a marker in
        __consumer_offsets to every commit. The group's offsets follow after the commit, for
        those who watch its lag (services/runtime/owner.py). A worker without a changelog
        commits them in the transaction, sent at once while its records are on their way."""
        self.answers_input = True
        if self.changelog is not None:
            await self.producer.send(
                self.changelog.topic,
                encode_positions(offsets),
                key=INPUT,
                partition=self.changelog.partition,
            )
            return
        self._offsets = asyncio.ensure_future(
            self.producer.send_offsets_to_transaction(offsets, group_id)
        )
