"""`python -m tests.processor.killing STEP N`: a command processor that SIGKILLs itself at STEP
of its N-th transaction that reaches it, with the record(s) of that step already on the broker.

STEP: events (an event of the batch written), outcomes (an outcome written), changelog (the
first state record written), commit (everything written, the commit not sent), committed
(right after the commit, before the process has noted it), checkpoint (the first state record
of a restore's checkpoint written). Settings come from the environment, as for `fleetstate`.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys

from services.config import load_settings
from services.lifecycle import stop_on_signals
from services.processor.app import Processor
from services.processor.partition import CommandPartition
from services.runtime.transaction import Transaction


class Killer:
    def __init__(self, step: str, nth: int) -> None:
        self.step, self.nth, self.seen = step, nth, 0

    async def reached(self, step: str, future=None) -> None:
        if step != self.step:
            return
        self.seen += 1
        if self.seen == self.nth:
            if future is not None:
                await future  # the record is on the broker, inside the open transaction
            os.kill(os.getpid(), signal.SIGKILL)


class KillingTransaction(Transaction):
    killer: Killer
    checkpoint = False

    async def send(self, topic, value, **kwargs):
        future = await super().send(topic, value, **kwargs)
        if topic.endswith(".events"):
            await self.killer.reached("events", future)
        elif topic.endswith(".outcomes"):
            await self.killer.reached("outcomes", future)
        return future

    async def write_changes(self, changes) -> None:
        items = list(changes.items())
        step = "checkpoint" if self.checkpoint else "changelog"
        for i, (key, value) in enumerate(items):
            future = await self.producer.send(
                self.changelog.topic, value, key=key, partition=self.changelog.partition
            )
            if i == 0:
                await self.killer.reached(step, future)

    async def __aexit__(self, kind, exc, tb) -> None:
        if kind is None and self.answers_input:
            await self.killer.reached("commit")
        await super().__aexit__(kind, exc, tb)
        if kind is None and self.answers_input:
            await self.killer.reached("committed")


class KillingPartition(CommandPartition):
    _restoring = True

    def transaction(self) -> Transaction:
        txn = KillingTransaction(self.producer, self.changelog_tp, self.before_commit)
        txn.checkpoint = self._restoring
        return txn

    async def restore(self, changelog) -> None:
        await super().restore(changelog)
        self._restoring = False


async def main(step: str, nth: int) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    KillingTransaction.killer = Killer(step, nth)
    await Processor(load_settings(), worker=KillingPartition).run(stop_on_signals())


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2])))
