"""A Kafka broker and a PostgreSQL server of a test's own, which it may kill or pause at will.

They are another instance of the dev stack (devstack/stack.sh) on other ports and in another
directory, so killing this broker never disturbs anything else using the dev stack. The chaos
run has one; a test that needs another gives it a directory and ports of its own.
"""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
KAFKA_PORT, CONTROLLER_PORT, PG_PORT = 19092, 19093, 15433


class ChaosStack:
    def __init__(
        self,
        directory: Path = ROOT / ".devstack" / "chaos",
        ports: tuple[int, int, int] = (KAFKA_PORT, CONTROLLER_PORT, PG_PORT),
    ) -> None:
        kafka_port, controller_port, pg_port = ports
        self.directory = directory
        self.env = dict(
            os.environ,
            FLEETSTATE_STACK_DIR=str(directory),
            FLEETSTATE_KAFKA_PORT=str(kafka_port),
            FLEETSTATE_KAFKA_CONTROLLER_PORT=str(controller_port),
            FLEETSTATE_PG_PORT=str(pg_port),
        )
        self.bootstrap = f"127.0.0.1:{kafka_port}"
        self.database_url = f"postgresql://fleetstate:fleetstate@127.0.0.1:{pg_port}/fleetstate"

    def _stack(self, *args: str) -> None:
        subprocess.run(
            [str(ROOT / "devstack" / "stack.sh"), *args],
            env=self.env,
            check=True,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
        )

    def start(self, fresh: bool = True, only: str = "all") -> None:
        """Starts both (or `only` kafka or postgres), from empty data when `fresh` (a short log
        restarts fast)."""
        if fresh:
            self._stack("clean-data")
        self._stack("start", only)

    def stop(self) -> None:
        self._stack("stop")

    def kill_kafka(self) -> None:
        self._stack("kill", "kafka")

    def start_kafka(self) -> None:
        """Returns once the broker answers a metadata request again."""
        self._stack("start", "kafka")

    def pause_kafka(self) -> None:
        """Freezes the broker (as a long GC pause or a partition would): connections stay open
        and nothing is answered until resume_kafka()."""
        os.kill(self._kafka_pid(), signal.SIGSTOP)

    def resume_kafka(self) -> None:
        os.kill(self._kafka_pid(), signal.SIGCONT)

    def _kafka_pid(self) -> int:
        return int((self.directory / "kafka" / "kafka.pid").read_text())

    def restart_postgres(self) -> None:
        self._stack("restart", "postgres")
