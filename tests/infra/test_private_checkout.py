"""The dev stack's PostgreSQL starts from a checkout its user cannot reach: as root the stack runs
it as the postgres user, which cannot enter a private (0700) home directory, so its data and log
must live elsewhere, and stop, status and clean-data must find them there."""

from __future__ import annotations

import asyncio
import os
import socket
from pathlib import Path

import asyncpg
import pytest

from tests.chaos.stack import run_stack

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0, reason="only root runs PostgreSQL as another user"
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stack(env: dict[str, str], *args: str) -> str:
    return run_stack(env, *args).stdout


async def connect_and_close(dsn: str) -> None:
    await (await asyncpg.connect(dsn)).close()


def test_postgres_runs_from_a_private_directory(tmp_path):
    private = tmp_path / "home"
    private.mkdir(mode=0o700)  # as a home directory is
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("FLEETSTATE_")},
        "FLEETSTATE_STACK_DIR": str(private / "fleet" / ".devstack"),
        "FLEETSTATE_PG_PORT": str(port),
    }
    record = private / "fleet" / ".devstack" / "postgres" / "home"
    try:
        stack(env, "start", "postgres")
        asyncio.run(
            connect_and_close(f"postgresql://fleetstate:fleetstate@127.0.0.1:{port}/fleetstate")
        )
        home = Path(record.read_text().strip())
        assert (home / "data" / "PG_VERSION").exists() and (home / "postgres.log").exists()
        assert "postgres: running" in stack(env, "status")
        stack(env, "stop")
        assert "postgres: stopped" in stack(env, "status")
    finally:
        stack(env, "clean-data")
    assert not home.exists()
