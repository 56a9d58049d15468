"""Faults injected at random moments while the load runs: processes killed and restarted,
paused past their session timeout, the broker killed, the database restarted; on a cluster,
the leader of a busy partition and the active controller killed, a broker paused past its
session with the controller. Each fault's window is kept, to say how long the API answered
503 during it."""

from __future__ import annotations

import asyncio
import logging
import random
import signal
import time
from collections import Counter
from collections.abc import Awaitable, Callable

import msgspec

from tests.chaos.stack import ChaosStack
from tests.services import ServiceProcess

log = logging.getLogger(__name__)
PAUSE_SECONDS = 9.0  # longer than the processors' 6 s session timeout: the group moves on
# Longer than a broker's 9 s session with the KRaft controller (broker.session.timeout.ms):
# the controller fences it and its partitions get other leaders.
BROKER_PAUSE_SECONDS = 12.0


class Window(msgspec.Struct, frozen=True):
    """One fault, from when it began to when what it broke was back (restarted, resumed)."""

    kind: str
    target: str
    began: float  # time.monotonic()
    ended: float


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
        leader_kills: int = 0,
        controller_kills: int = 0,
        broker_pauses: int = 0,
        minority_kills: int = 0,
        busiest_partition: Callable[[], Awaitable[tuple[str, int]]] | None = None,
    ) -> None:
        self.stack = stack
        self.services = services
        self.rng = rng
        self.done: Counter = Counter()  # by kind: kill, pause, broker, database, leader, ...
        self.targets: Counter = Counter()  # by kind and service: "kill:projector", ...
        self.windows: list[Window] = []
        # (topic, partition) under the most load now: whose leader a "leader" fault kills
        self.busiest_partition = busiest_partition
        plan = (
            ["kill"] * kills
            + ["pause"] * pauses
            + ["broker"] * broker_kills
            + ["database"] * database_restarts
            + ["leader"] * leader_kills
            + ["controller"] * controller_kills
            + ["broker_pause"] * broker_pauses
            + ["minority"] * minority_kills
        )
        rng.shuffle(plan)
        self.plan = plan

    async def run(self, spread_seconds: float) -> None:
        """Injects every planned fault, spaced at random over about `spread_seconds`."""
        gap = spread_seconds / max(1, len(self.plan))
        for fault in self.plan:
            await asyncio.sleep(self.rng.uniform(0.3 * gap, 1.2 * gap))
            began = time.monotonic()
            target = await getattr(self, f"_{fault}")()
            self.windows.append(Window(fault, target or "", began, time.monotonic()))
            self.done[fault] += 1
            log.warning("chaos: %s done (%s)", fault, dict(self.done))

    async def _kill(self) -> str:
        name = self.rng.choice(sorted(self.services))
        victim = self.services[name]
        victim.kill()
        self.targets[f"kill:{name}"] += 1
        await asyncio.sleep(self.rng.uniform(0.0, 2.0))
        victim.start()
        return name

    async def _pause(self) -> str:
        candidates = sorted(n for n in self.services if n.startswith("processor"))
        name = self.rng.choice(candidates or sorted(self.services))
        process = self.services[name].process
        process.send_signal(signal.SIGSTOP)
        self.targets[f"pause:{name}"] += 1
        await asyncio.sleep(PAUSE_SECONDS)
        process.send_signal(signal.SIGCONT)
        return name

    async def _broker(self) -> str:
        await asyncio.to_thread(self.stack.kill_kafka)
        await asyncio.sleep(self.rng.uniform(1.0, 4.0))
        await asyncio.to_thread(self.stack.start_kafka)
        return "kafka"

    async def _database(self) -> str:
        await asyncio.to_thread(self.stack.restart_postgres)
        return "postgres"

    async def _kill_node(self, kind: str, node: int) -> str:
        """SIGKILL of one node of the cluster; started again after a few seconds."""
        await asyncio.to_thread(self.stack.kill_kafka, node)
        self.targets[f"{kind}:node-{node}"] += 1
        await asyncio.sleep(self.rng.uniform(1.0, 4.0))
        await asyncio.to_thread(self.stack.start_kafka)
        await self.stack.fully_replicated()  # one node down at a time, never two
        return f"node-{node}"

    async def _leader(self) -> str:
        """The leader of the partition under the most load, killed."""
        topic, partition = await self.busiest_partition()
        node = (await self.stack.leaders(topic))[partition]
        log.warning("chaos: killing node %d, leader of %s-%d", node, topic, partition)
        return await self._kill_node("leader", node)

    async def _controller(self) -> str:
        return await self._kill_node("controller", self.stack.active_controller())

    async def _minority(self) -> str:
        """All nodes but one killed at once: fewer than min.insync.replicas (2) replicas, and
        no controller quorum, until they are started again. The one time a 503 is due."""
        victims = sorted(self.rng.sample(self.stack.nodes, len(self.stack.nodes) - 1))
        await asyncio.gather(*(asyncio.to_thread(self.stack.kill_kafka, n) for n in victims))
        self.targets[f"minority:{'+'.join(f'node-{n}' for n in victims)}"] += 1
        await asyncio.sleep(self.rng.uniform(3.0, 6.0))
        await asyncio.to_thread(self.stack.start_kafka)
        await self.stack.fully_replicated()
        return "+".join(f"node-{n}" for n in victims)

    async def _broker_pause(self) -> str:
        node = self.rng.choice(self.stack.nodes)
        self.stack.pause_kafka(node)
        self.targets[f"broker_pause:node-{node}"] += 1
        await asyncio.sleep(BROKER_PAUSE_SECONDS)
        self.stack.resume_kafka(node)
        await self.stack.fully_replicated()
        return f"node-{node}"
