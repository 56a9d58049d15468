"""A Kafka broker and a PostgreSQL server of the chaos run's own, which it may kill at will.

They are a second instance of the dev stack (devstack/stack.sh) on other ports and in another
directory, so killing this broker never disturbs anything else using the dev stack.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
KAFKA_PORT, CONTROLLER_PORT, PG_PORT = 19092, 19093, 15433


class ChaosStack:
    def __init__(self, directory: Path = ROOT / ".devstack" / "chaos") -> None:
        self.env = dict(
            os.environ,
            FLEETSTATE_STACK_DIR=str(directory),
            FLEETSTATE_KAFKA_PORT=str(KAFKA_PORT),
            FLEETSTATE_KAFKA_CONTROLLER_PORT=str(CONTROLLER_PORT),
            FLEETSTATE_PG_PORT=str(PG_PORT),
        )
        self.bootstrap = f"127.0.0.1:{KAFKA_PORT}"
        self.database_url = f"postgresql://fleetstate:fleetstate@127.0.0.1:{PG_PORT}/fleetstate"

    def _stack(self, *args: str) -> None:
        subprocess.run(
            [str(ROOT / "devstack" / "stack.sh"), *args],
            env=self.env,
            check=True,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
        )

    def start(self, fresh: bool = True) -> None:
        """Starts both, from empty data when `fresh` (a short log restarts fast)."""
        if fresh:
            self._stack("clean-data")
        self._stack("start")

    def stop(self) -> None:
        self._stack("stop")

    def kill_kafka(self) -> None:
        self._stack("kill", "kafka")

    def start_kafka(self) -> None:
        """Returns once the broker answers a metadata request again."""
        self._stack("start", "kafka")

    def restart_postgres(self) -> None:
        self._stack("restart", "postgres")
