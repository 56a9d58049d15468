"""Follows the events partitions whose usage this process owns, for the usage directory.

Usage partition p and events partition p hold the same accounts (both keyed by account_sid),
so the owner of usage partition p tails events partition p: Sims registered, assigned and
activated, Fleets created and their limits changed. Only those event types are decoded (the
record's `type` header says which). Each partition's events go to its sink; the partition
applies them between batches, so its directory never changes under a decision.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from aiokafka import TopicPartition

from events.codec import decode_event
from events.envelope import EventEnvelope
from services.log_reader import event_type, log_consumer
from services.usage.directory import DIRECTORY_EVENT_TYPES

log = logging.getLogger(__name__)
_TYPES = {name.encode() for name in DIRECTORY_EVENT_TYPES}

Sink = Callable[[list[EventEnvelope]], None]


def directory_events(records) -> list[EventEnvelope]:
    """The events of `records` the directory needs, decoded; the others are skipped unread."""
    return [decode_event(r.value) for r in records if event_type(r) in _TYPES]


class EventsFollower:
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
            self.consumer.seek(TopicPartition(self.topic, partition), from_offset)

    async def unfollow(self, partition: int) -> None:
        async with self._lock:
            self.positions.pop(partition, None)
            self.sinks.pop(partition, None)
            self._reassign()

    async def caught_up(self, partition: int, timeout: float = 2.0) -> bool:
        """Waits until `partition` is delivered up to its committed end as of now."""
        tp = TopicPartition(self.topic, partition)
        end = (await self.consumer.end_offsets([tp]))[tp]
        deadline = time.monotonic() + timeout
        while self.positions.get(partition, end) < end:  # noqa: ASYNC110 - moved by _run
            if time.monotonic() > deadline:
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
                log.warning("events follower: read failed, retrying", exc_info=True)
                await asyncio.sleep(1)

    async def _read_once(self) -> None:
        if not self.positions:
            await asyncio.sleep(0.05)
            return
        batches = await self.consumer.getmany(timeout_ms=200)
        async with self._lock:
            for tp, records in batches.items():
                position = self.positions.get(tp.partition)
                if position is None:
                    continue  # unfollowed since the fetch
                records = [r for r in records if r.offset >= position]
                if not records:
                    continue
                events = directory_events(records)
                if events:
                    self.sinks[tp.partition](events)
                self.positions[tp.partition] = records[-1].offset + 1
            # Positions move past transaction markers without records: follow them.
            for p in self.positions:
                position = await self.consumer.position(TopicPartition(self.topic, p))
                self.positions[p] = max(self.positions[p], position)
