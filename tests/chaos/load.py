"""The chaos run's traffic: commands through the client, retried with the same command_id
until answered, whatever is down at the moment."""

from __future__ import annotations

import asyncio
import logging
import random

from aiokafka.errors import KafkaError

from bench.workload import Workload
from events.client import CommandClient
from events.commands import CommandEnvelope
from tests.chaos.ledger import Ledger

log = logging.getLogger(__name__)
CHUNK = 50
ANSWER_TIMEOUT = 20.0


class ClientLoad:
    def __init__(
        self, client: CommandClient, workload: Workload, ledger: Ledger, rng: random.Random
    ) -> None:
        self.client = client
        self.workload = workload
        self.ledger = ledger
        self.rng = rng

    async def setup(self) -> None:
        await self.execute(self.workload.operator_commands())
        await self.execute(self.workload.setup_commands())

    async def steady(self, count: int, rate: float, senders: int = 4) -> None:
        """`count` commands at about `rate` per second, from `senders` concurrent callers;
        about one chunk in twenty is sent a second time after it was answered."""
        commands = self.workload.steady_commands(count)
        chunks = [commands[i : i + CHUNK] for i in range(0, len(commands), CHUNK)]
        queue: asyncio.Queue = asyncio.Queue()
        for chunk in chunks:
            queue.put_nowait(chunk)
        interval = CHUNK * senders / rate

        async def sender() -> None:
            loop = asyncio.get_running_loop()
            while not queue.empty():
                chunk = queue.get_nowait()
                started = loop.time()
                await self.execute(chunk)
                if self.rng.random() < 0.05:
                    self.ledger.resent += len(chunk)
                    await self.execute(chunk)
                await asyncio.sleep(max(0.0, interval - (loop.time() - started)))

        await asyncio.gather(*(sender() for _ in range(senders)))

    async def execute(self, envelopes: list[CommandEnvelope]) -> None:
        """Sends until every command is answered, each retry with the same command ids."""
        self.ledger.sent.update(e.command_id for e in envelopes)
        while True:
            try:
                outcomes = await self.client.execute_many(envelopes, timeout=ANSWER_TIMEOUT)
            except (TimeoutError, KafkaError) as exc:
                log.info(
                    "chaos load: %d commands unanswered (%r), sending again", len(envelopes), exc
                )
                await asyncio.sleep(1.0)
                continue
            for outcome in outcomes:
                self.ledger.answered(
                    outcome.command_id, outcome.status, [ref.event_id for ref in outcome.events]
                )
            return
