"""The dev stack's three-node cluster (FLEETSTATE_BROKERS=3), run from a checkout and a stack
directory whose paths hold spaces, as a user's clone may: it starts, one node can be killed and
started again, it refuses to be started as another size while it runs, and it stops."""

from __future__ import annotations

import os
import random
import shutil
import socket
from pathlib import Path

import pytest

from tests.chaos.stack import run_stack

ROOT = Path(__file__).resolve().parents[2]

# Three JVMs at once: one after another with the other heavy tests.
pytestmark = pytest.mark.xdist_group("heavy")


def free_ports(count: int) -> int:
    """A base port p with p .. p+count-1 all free, below the ephemeral range (where the nodes'
    own connections to each other could take one before the last node binds it)."""
    low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    for _ in range(200):
        base = random.randrange(20_000, min(30_000, low - count))
        try:
            sockets = []
            for port in range(base, base + count):
                sock = socket.socket()
                sockets.append(sock)
                sock.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
        finally:
            for sock in sockets:
                sock.close()
    raise RuntimeError("no free ports")


def checkout_with_spaces(tmp_path: Path) -> Path:
    """The dev stack's files in a directory named with spaces, sharing this checkout's jars."""
    clone = tmp_path / "my projects" / "fleet state"
    shutil.copytree(ROOT / "devstack", clone / "devstack")
    (clone / ".devstack").mkdir(parents=True)
    (clone / ".devstack" / "cache").symlink_to(ROOT / ".devstack" / "cache")
    return clone


def run(clone: Path, env: dict[str, str], *args: str, check: bool = True):
    return run_stack(env, *args, checkout=clone, check=check)


@pytest.mark.timeout(600)
def test_a_cluster_runs_from_paths_with_spaces_and_loses_and_regains_a_node(tmp_path):
    clone = checkout_with_spaces(tmp_path)
    base = free_ports(6)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("FLEETSTATE_")},
        "PYTHON": str(ROOT / ".venv" / "bin" / "python"),
        "FLEETSTATE_BROKERS": "3",
        "FLEETSTATE_KAFKA_PORT": str(base),
        "FLEETSTATE_KAFKA_CONTROLLER_PORT": str(base + 1),
        "FLEETSTATE_STACK_DIR": str(clone / ".devstack" / "a stack"),
    }
    nodes = clone / ".devstack" / "a stack" / "kafka-cluster"
    try:
        run(clone, env, "start", "kafka")
        assert run(clone, env, "bootstrap").stdout.split() == [
            f"127.0.0.1:{base},127.0.0.1:{base + 2},127.0.0.1:{base + 4}"
        ]
        status = run(clone, env, "status").stdout
        assert [f"kafka node-{n}: running" in status for n in (1, 2, 3)] == [True] * 3

        run(clone, env, "kill", "kafka", "2")
        status = run(clone, env, "status").stdout
        assert "node-2" not in status and "kafka node-3: running" in status
        run(clone, env, "start", "kafka")  # node 2 again; back once all three serve
        assert "kafka node-2: running" in run(clone, env, "status").stdout

        one = run(clone, {**env, "FLEETSTATE_BROKERS": "1"}, "start", "kafka", check=False)
        assert one.returncode != 0 and "another size runs" in one.stderr
        two = run(clone, {**env, "FLEETSTATE_BROKERS": "2"}, "start", "kafka", check=False)
        assert two.returncode != 0 and "FLEETSTATE_BROKERS must be 1, or 3" in two.stderr
        assert (nodes / "brokers").read_text().strip() == "3"
    finally:
        run(clone, env, "stop", "kafka", check=False)
    assert "kafka: stopped" in run(clone, env, "status").stdout
    assert not list(nodes.glob("node-*/kafka.pid"))
