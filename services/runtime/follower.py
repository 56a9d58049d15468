"""Follows partitions of a topic from chosen offsets, handing what arrives to a sink each.

One consumer outside any group (read_committed) for all the partitions a process follows:
the usage processor follows the events partitions of the usage partitions it owns, and every
process follows the global tables it reads.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from aiokafka import TopicPartition
from aiokafka.structs import ConsumerRecord

from services.log_reader import log_consumer

log = logging.getLogger(__name__)

# Records that arrived, and the partition's position after them: every committed record below
# it has been handed over.
Sink = Callable[[list[ConsumerRecord], int], None]


class PartitionFollower:
    def __init__(self, bootstrap: str, topic: str) -> None:
        self.topic = topic
        self.consumer = log_consumer(bootstrap)
        self.positions: dict[int, int] = {}  # followed partition -> next offset
        self.sinks: dict[int, Sink] = {}
        self._lock = asyncio.Lock()
        self._task: asyncio.Task | None = None

    async def start(self) -> None:
        await self.consumer.start()
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self.consumer.stop()

    async def follow(self, partition: int, from_offset: int, sink: Sink) -> None:
        async with self._lock:
            self.positions[partition] = from_offset
            self.sinks[partition] = sink
            self._reassign()

    async def unfollow(self, partition: int, sink: Sink) -> None:
        """Stops handing `partition` to `sink`. A partition followed since by another sink
        (a newer worker restored it while this one wound down) is left to that one."""
        async with self._lock:
            if self.sinks.get(partition) != sink:  # bound methods: equal, never identical
                return
            self.positions.pop(partition, None)
            self.sinks.pop(partition, None)
            self._reassign()

    async def caught_up(self, partition: int, timeout: float | None = None) -> bool:
        """Waits until `partition` is handed over up to its committed end as of now; False
        if `timeout` seconds passed first."""
        tp = TopicPartition(self.topic, partition)
        end = (await self.consumer.end_offsets([tp]))[tp]
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.positions.get(partition, end) < end:  # noqa: ASYNC110 - moved by _run
            if deadline is not None and time.monotonic() > deadline:
                return False
            await asyncio.sleep(0.005)
        return True

    def _reassign(self) -> None:
        self.consumer.assign([TopicPartition(self.topic, p) for p in self.positions])
        for p, offset in self.positions.items():
            self.consumer.seek(TopicPartition(self.topic, p), offset)

    async def _run(self) -> None:
        while True:
            try:
                await self._read_once()
            except asyncio.CancelledError:
                raise
            except Exception:  # a broker outage: keep trying, positions are ours
                log.warning("follower of %s: read failed, retrying", self.topic, exc_info=True)
                await asyncio.sleep(1)

    async def _read_once(self) -> None:
        if not self.positions:
            await asyncio.sleep(0.05)
            return
        batches = await self.consumer.getmany(timeout_ms=200, max_records=20_000)
        async with self._lock:
            for tp, records in batches.items():
                position = self.positions.get(tp.partition)
                if position is None:
                    continue  # unfollowed since the fetch
                records = [r for r in records if r.offset >= position]
                if records:
                    self.positions[tp.partition] = records[-1].offset + 1
                    self.sinks[tp.partition](records, records[-1].offset + 1)
            # Positions move past transaction markers without records: follow them.
            for p in self.positions:
                position = await self.consumer.position(TopicPartition(self.topic, p))
                self.positions[p] = max(self.positions[p], position)
