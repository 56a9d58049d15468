"""A table every process reads whole: a compacted topic of one partition, followed.

For facts one partition decides and every partition must read (the operator's Networks):
the deciding partition writes the fact's record in the transaction of its decision, so the
table holds committed facts only, in commit order; each process restores it from offset 0
(compaction keeps that near the table's live size) and then applies what arrives.
"""

from __future__ import annotations

from collections.abc import Callable

from aiokafka.structs import ConsumerRecord

from services.runtime.follower import PartitionFollower

Apply = Callable[[bytes, bytes | None], None]  # key, latest value (None: deleted)


class GlobalTable:
    def __init__(self, bootstrap: str, topic: str, apply: Apply) -> None:
        self.topic = topic
        self.apply = apply
        self.follower = PartitionFollower(bootstrap, topic)

    async def start(self) -> None:
        """Reads the whole table, then keeps following it."""
        await self.follower.start()
        await self.follower.follow(0, 0, self._arrived)
        await self.follower.caught_up(0)

    async def stop(self) -> None:
        await self.follower.stop()

    async def caught_up(self, timeout: float | None = None) -> bool:
        """Waits until everything committed to the table so far has been applied."""
        return await self.follower.caught_up(0, timeout)

    def _arrived(self, records: list[ConsumerRecord], position: int) -> None:
        for record in records:
            self.apply(record.key, record.value)
