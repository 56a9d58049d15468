"""Faults injected at random moments while the load runs: processes killed and restarted,
paused past their session timeout, the broker killed, the database restarted."""

from __future__ import annotations

import asyncio
import logging
import random
import signal
from collections import Counter

from tests.chaos.stack import ChaosStack
from tests.services import ServiceProcess

log = logging.getLogger(__name__)
PAUSE_SECONDS = 9.0  # longer than the processors' 6 s session timeout: the group moves on


class FaultInjector:
    def __init__(
        self,
        stack: ChaosStack,
        services: dict[str, ServiceProcess],
        rng: random.Random,
        kills: int,
        pauses: int,
        broker_kills: int,
        database_restarts: int,
    ) -> None:
        self.stack = stack
        self.services = services
        self.rng = rng
        self.done: Counter = Counter()  # by kind: kill, pause, broker, database
        self.targets: Counter = Counter()  # by kind and service: "kill:projector", ...
        plan = (
            ["kill"] * kills
            + ["pause"] * pauses
            + ["broker"] * broker_kills
            + ["database"] * database_restarts
        )
        rng.shuffle(plan)
        self.plan = plan

    async def run(self, spread_seconds: float) -> None:
        """Injects every planned fault, spaced at random over about `spread_seconds`."""
        gap = spread_seconds / max(1, len(self.plan))
        for fault in self.plan:
            await asyncio.sleep(self.rng.uniform(0.3 * gap, 1.2 * gap))
            await getattr(self, f"_{fault}")()
            self.done[fault] += 1
            log.warning("chaos: %s done (%s)", fault, dict(self.done))

    async def _kill(self) -> None:
        name = self.rng.choice(sorted(self.services))
        victim = self.services[name]
        victim.kill()
        self.targets[f"kill:{name}"] += 1
        await asyncio.sleep(self.rng.uniform(0.0, 2.0))
        victim.start()

    async def _pause(self) -> None:
        candidates = sorted(n for n in self.services if n.startswith("processor"))
        name = self.rng.choice(candidates or sorted(self.services))
        process = self.services[name].process
        process.send_signal(signal.SIGSTOP)
        self.targets[f"pause:{name}"] += 1
        await asyncio.sleep(PAUSE_SECONDS)
        process.send_signal(signal.SIGCONT)

    async def _broker(self) -> None:
        await asyncio.to_thread(self.stack.kill_kafka)
        await asyncio.sleep(self.rng.uniform(1.0, 4.0))
        await asyncio.to_thread(self.stack.start_kafka)

    async def _database(self) -> None:
        await asyncio.to_thread(self.stack.restart_postgres)
