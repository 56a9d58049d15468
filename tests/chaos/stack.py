"""Kafka (one broker or a cluster) and a PostgreSQL server of a test's own, which it may kill or
pause at will.

They are another instance of the dev stack (devstack/stack.sh) on other ports and in another
directory, so killing a broker never disturbs anything else using the dev stack. The chaos run
has one; a test that needs another gives it a directory and ports of its own. With `brokers=3`
the stack is a KRaft cluster whose node i listens on the Kafka port + 2(i-1) (stack.sh).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
from pathlib import Path

from aiokafka.admin import AIOKafkaAdminClient

from events.kafka_security import kafka_options

ROOT = Path(__file__).resolve().parents[2]
KAFKA_PORT, CONTROLLER_PORT, PG_PORT = 19092, 19093, 15433


def run_stack(
    env: dict[str, str], *args: str, checkout: Path = ROOT, check: bool = True
) -> subprocess.CompletedProcess:
    """`devstack/stack.sh *args` of `checkout` with `env`; its output is in the failure."""
    done = subprocess.run(
        [str(checkout / "devstack" / "stack.sh"), *args],
        env=env,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=300,
    )
    if check:
        assert done.returncode == 0, f"stack.sh {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
    return done


class ChaosStack:
    def __init__(
        self,
        directory: Path = ROOT / ".devstack" / "chaos",
        ports: tuple[int, int, int] = (KAFKA_PORT, CONTROLLER_PORT, PG_PORT),
        brokers: int = 1,
    ) -> None:
        kafka_port, controller_port, pg_port = ports
        self.directory = directory
        self.brokers = brokers
        self.env = dict(
            os.environ,
            FLEETSTATE_STACK_DIR=str(directory),
            FLEETSTATE_KAFKA_PORT=str(kafka_port),
            FLEETSTATE_KAFKA_CONTROLLER_PORT=str(controller_port),
            FLEETSTATE_PG_PORT=str(pg_port),
            FLEETSTATE_BROKERS=str(brokers),
        )
        self.nodes = list(range(1, brokers + 1))
        self.bootstrap = ",".join(f"127.0.0.1:{kafka_port + 2 * (n - 1)}" for n in self.nodes)
        self.database_url = f"postgresql://fleetstate:fleetstate@127.0.0.1:{pg_port}/fleetstate"

    def _stack(self, *args: str) -> None:
        run_stack(self.env, *args)

    def start(self, fresh: bool = True, only: str = "all") -> None:
        """Starts both (or `only` kafka or postgres), from empty data when `fresh` (a short log
        restarts fast)."""
        if fresh:
            self._stack("clean-data")
        self._stack("start", only)

    def stop(self) -> None:
        self._stack("stop")

    def kill_kafka(self, node: int | None = None) -> None:
        """SIGKILL of one node of a cluster (of every broker without `node`)."""
        self._stack("kill", "kafka", *([str(node)] if node else []))

    def start_kafka(self) -> None:
        """Starts every node that is not running; returns once all of them are brokers of the
        cluster again."""
        self._stack("start", "kafka")

    def pause_kafka(self, node: int = 1) -> None:
        """Freezes a broker (as a long GC pause or a partition would): connections stay open
        and nothing is answered until resume_kafka()."""
        os.kill(self._kafka_pid(node), signal.SIGSTOP)

    def resume_kafka(self, node: int = 1) -> None:
        os.kill(self._kafka_pid(node), signal.SIGCONT)

    def _node_dir(self, node: int) -> Path:
        if self.brokers == 1:
            return self.directory / "kafka"
        return self.directory / "kafka-cluster" / f"node-{node}"

    def _kafka_pid(self, node: int) -> int:
        return int((self._node_dir(node) / "kafka.pid").read_text())

    def active_controller(self) -> int:
        """The node leading the KRaft quorum: what the nodes last wrote down of it, the
        latest epoch winning (a node that was away may remember an older leader)."""
        known = []
        for node in self.nodes:
            state = self._node_dir(node) / "data" / "__cluster_metadata-0" / "quorum-state"
            try:
                quorum = json.loads(state.read_text())
            except (OSError, ValueError):
                continue  # being rewritten, or never written: the others tell
            if quorum.get("leaderId", -1) >= 0:
                known.append((quorum["leaderEpoch"], quorum["leaderId"]))
        if not known:
            raise RuntimeError("no node knows the quorum's leader")
        return max(known)[1]

    async def _topics(self, names: list[str] | None = None) -> list[dict]:
        """The brokers' description of `names` (every topic without), partitions and all."""
        admin = AIOKafkaAdminClient(**kafka_options(self.bootstrap))
        await admin.start()
        try:
            return await admin.describe_topics(names)
        finally:
            await admin.close()

    async def leaders(self, topic: str) -> dict[int, int]:
        """Partition -> the node leading it now."""
        [described] = await self._topics([topic])
        return {p["partition"]: p["leader"] for p in described["partitions"]}

    async def replicas(self) -> dict[str, int]:
        """Topic -> the fewest replicas any of its partitions has."""
        return {
            topic["topic"]: min(len(p["replicas"]) for p in topic["partitions"])
            for topic in await self._topics()
            if topic["partitions"]
        }

    async def fully_replicated(self, timeout: float = 120.0) -> None:
        """Until every partition of every topic has all its replicas in sync again: a node
        restarted after a fault serves at once but catches up for a while, and a second fault
        before it has would take two of three replicas away."""
        async with asyncio.timeout(timeout):
            while any(  # noqa: ASYNC110 (the brokers' state, polled)
                len(p["isr"]) < len(p["replicas"])
                for topic in await self._topics()
                for p in topic["partitions"]
            ):
                await asyncio.sleep(0.2)

    def restart_postgres(self) -> None:
        self._stack("restart", "postgres")
