"""Reads first outcomes back by their offsets: how a retried command gets its first answer."""

from __future__ import annotations

import time

from aiokafka import TopicPartition

from events.codec import InvalidMessage, decode_outcome
from events.envelope import Outcome
from services.log_reader import log_consumer

GIVE_UP_SECONDS = 10.0  # per offset: a committed offset is normally read in milliseconds


class OutcomeReader:
    def __init__(self, bootstrap: str, tp: TopicPartition) -> None:
        self.bootstrap = bootstrap
        self.tp = tp
        self._consumer = None

    async def read(self, offsets: list[int]) -> dict[int, Outcome]:
        """The outcomes at `offsets` (an offset that holds none is left out)."""
        if self._consumer is None:
            self._consumer = log_consumer(self.bootstrap, max_partition_fetch_bytes=1024 * 1024)
            await self._consumer.start()
            self._consumer.assign([self.tp])
        found: dict[int, Outcome] = {}
        wanted = set(offsets)
        for offset in sorted(wanted):
            if offset in found:
                continue
            self._consumer.seek(self.tp, offset)
            deadline = time.monotonic() + GIVE_UP_SECONDS
            while time.monotonic() < deadline:
                batch = await self._consumer.getmany(self.tp, timeout_ms=500, max_records=100)
                for record in batch.get(self.tp, ()):
                    if record.offset in wanted and record.offset not in found:
                        try:
                            found[record.offset] = decode_outcome(record.value)
                        except InvalidMessage:
                            pass
                if await self._consumer.position(self.tp) > offset:
                    break
        return found

    async def stop(self) -> None:
        if self._consumer is not None:
            await self._consumer.stop()
