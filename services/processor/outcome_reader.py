"""Reads first outcomes back by their offsets: how a retried command gets its first answer.

The memory says a command was answered and where; only the outcome there says what it was
answered with. An offset that cannot be read (the broker is away, slow or restarting) is
never taken for "not answered": deciding the retry again would append its events twice (a
retried update, decided after a newer one, even changes the state back). The batch fails
instead and is answered again once the partition is restored, when the broker is back.
"""

from __future__ import annotations

import time

from aiokafka import TopicPartition

from events.codec import InvalidMessage, decode_outcome
from events.envelope import Outcome
from services.log_reader import log_consumer

GIVE_UP_SECONDS = 10.0  # per offset: a committed offset is normally read in milliseconds


class OutcomeUnavailable(RuntimeError):
    """A remembered outcome could not be read in time: the commands waiting on it must not be
    decided until it can be."""


class OutcomeGone:
    """What an offset holds once its outcome was deleted from the log (records deleted by an
    operator): the command was answered, what with is no longer known."""

    def __repr__(self) -> str:
        return "GONE"


GONE = OutcomeGone()


class OutcomeReader:
    def __init__(
        self, bootstrap: str, tp: TopicPartition, give_up_seconds: float = GIVE_UP_SECONDS
    ) -> None:
        self.bootstrap = bootstrap
        self.tp = tp
        self.give_up_seconds = give_up_seconds
        self._consumer = None

    async def read(self, offsets: list[int]) -> dict[int, Outcome | OutcomeGone]:
        """The outcome at each of `offsets`, or GONE where the log no longer holds one.
        Raises OutcomeUnavailable when an offset could not be read within the deadline."""
        if self._consumer is None:
            self._consumer = log_consumer(self.bootstrap, max_partition_fetch_bytes=1024 * 1024)
            await self._consumer.start()
            self._consumer.assign([self.tp])
        found: dict[int, Outcome | OutcomeGone] = {}
        wanted = set(offsets)
        for offset in sorted(wanted):
            if offset in found:
                continue
            self._consumer.seek(self.tp, offset)
            deadline = time.monotonic() + self.give_up_seconds
            while offset not in found:
                batch = await self._consumer.getmany(self.tp, timeout_ms=500, max_records=100)
                for record in batch.get(self.tp, ()):
                    if record.offset in wanted and record.offset not in found:
                        try:
                            found[record.offset] = decode_outcome(record.value)
                        except InvalidMessage:
                            found[record.offset] = GONE  # not an outcome we wrote
                if offset in found:
                    break
                # Read past it without the record: deleted (an offset the memory holds was
                # committed, so read_committed never skips it as aborted).
                if await self._consumer.position(self.tp) > offset:
                    found[offset] = GONE
                elif time.monotonic() >= deadline:
                    raise OutcomeUnavailable(
                        f"the first outcome at {self.tp.topic}[{self.tp.partition}]@{offset} "
                        f"could not be read in {self.give_up_seconds:.0f}s"
                    )
        return found

    async def stop(self) -> None:
        if self._consumer is not None:
            await self._consumer.stop()
