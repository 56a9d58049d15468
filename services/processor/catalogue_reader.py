"""Follows the events partitions this process does not own, for their catalogue facts.

The operator's Networks and SIM cards are provisioned in the operator's partition, and SIM
registrations happen in every account's partition; each processor needs all of them to decide
for its own accounts. This reader tails the partitions owned elsewhere and feeds only those facts
(recognised by the record's `type` header, without decoding anything else) into the shared state.
"""

from __future__ import annotations

import asyncio
import logging

from aiokafka import TopicPartition

from events.codec import decode_event
from services.config import Settings
from services.domain.catalogue import CATALOGUE_EVENT_TYPES, CatalogueFeed
from services.domain.state import State
from services.log_reader import event_type, log_consumer

log = logging.getLogger(__name__)
_TYPES = {name.encode() for name in CATALOGUE_EVENT_TYPES}


class CatalogueReader:
    def __init__(self, settings: Settings, state: State) -> None:
        self.topic = settings.events_topic
        self.state = state
        self.feed = CatalogueFeed()
        self.consumer = log_consumer(settings.kafka_bootstrap)
        self.positions: dict[int, int] = {}  # followed partition -> next offset to read
        self._lock = asyncio.Lock()
        self._task: asyncio.Task | None = None

    async def start(self, partitions: int) -> None:
        await self.consumer.start()
        self.positions = {p: 0 for p in range(partitions)}
        self._reassign(seek=set(self.positions))
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self.consumer.stop()

    async def exclude(self, partition: int) -> None:
        """This process owns `partition` now: its own fold covers it."""
        async with self._lock:
            self.positions.pop(partition, None)
            self._reassign(seek=set())

    async def include(self, partition: int, from_offset: int) -> None:
        """This process gave `partition` up, having applied its events up to `from_offset`."""
        async with self._lock:
            self.positions[partition] = from_offset
            self._reassign(seek={partition})

    async def caught_up(self) -> None:
        """Returns once every followed partition is read up to its end as of now."""
        async with self._lock:
            tps = [TopicPartition(self.topic, p) for p in self.positions]
            ends = await self.consumer.end_offsets(tps) if tps else {}
        # Positions move in another task; polling them is simpler than signalling every batch.
        while any(self.positions.get(tp.partition, end) < end for tp, end in ends.items()):  # noqa: ASYNC110
            await asyncio.sleep(0.02)

    def _reassign(self, seek: set[int]) -> None:
        self.consumer.assign([TopicPartition(self.topic, p) for p in self.positions])
        for p in seek:
            self.consumer.seek(TopicPartition(self.topic, p), self.positions[p])

    async def _run(self) -> None:
        while True:
            try:
                await self._read_once()
            except asyncio.CancelledError:
                raise
            except Exception:  # a broker outage: keep trying, positions are ours
                log.warning("catalogue reader: read failed, retrying", exc_info=True)
                await asyncio.sleep(1)

    async def _read_once(self) -> None:
        if not self.positions:
            await asyncio.sleep(0.1)
            return
        batches = await self.consumer.getmany(timeout_ms=200)
        async with self._lock:
            for tp, records in batches.items():
                if tp.partition not in self.positions:
                    continue  # owned since the fetch: the owner's fold has it
                for record in records:
                    if event_type(record) in _TYPES:
                        self.feed.apply(self.state, decode_event(record.value))
                self.positions[tp.partition] = records[-1].offset + 1
            # Positions move past transaction markers without records: follow them.
            for p in self.positions:
                tp = TopicPartition(self.topic, p)
                position = await self.consumer.position(tp)
                self.positions[p] = max(self.positions[p], position)
