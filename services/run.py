"""`fleetstate run`: prepares Kafka and Postgres, then runs every service as a child process.

Each service is its own process (a crash or a kill of one does not take the others down, and two
cores are used); this supervisor restarts none of them: it stops all when one exits or on Ctrl-C.
With FLEETSTATE_INSTANCES=n it starts n of each (the network simulator: one), which share the
work as their consumer groups share partitions, the API's as the kernel shares its port.
Once the API answers /readyz, the demo is seeded (idempotently) and its credentials printed.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from typing import NamedTuple

import httpx

from services.config import Settings
from services.migrate import migrate
from services.topics import ensure_topics

SERVICES = [
    "processor",
    "projector",
    "api",
    "usage-processor",
    "usage-projector",
    "network-gateway",
    "delivery",
]
# Answers what fleetstate sends to devices in place of a mobile network: development only,
# so only when FLEETSTATE_NETWORK_SIM=on (`make run` sets it).
NETWORK_SIM = "network-sim"


def services(settings: Settings) -> list[str]:
    return SERVICES + ([NETWORK_SIM] if settings.network_sim == "on" else [])


class Child(NamedTuple):
    service: str  # the `fleetstate` command that runs it
    args: list[str]
    env: dict[str, str]  # set on top of this process's environment


# Each further instance of a service serves its metrics this many ports above the one before.
METRICS_PORT_STEP = 100


def children(settings: Settings) -> dict[str, Child]:
    """Each child process by name (`processor`, or `processor-2` when there are several) with
    its arguments: the processors serve their Prometheus metrics where the settings say (the
    API serves its own, on FLEETSTATE_API_METRICS_PORT). The network simulator takes its
    unreachable ICCIDs from the setting, in the environment it inherits."""
    metrics = {
        "processor": settings.processor_metrics_port,
        "usage-processor": settings.usage_metrics_port,
        "api": settings.api_metrics_port,
    }
    found: dict[str, Child] = {}
    for service in services(settings):
        count = 1 if service == NETWORK_SIM else settings.instances
        for n in range(1, count + 1):
            base = metrics.get(service, 0)  # 0: no metrics served
            port = base + METRICS_PORT_STEP * (n - 1) if base else 0
            args = ["--metrics-port", str(port)] if port and service != "api" else []
            env = {"FLEETSTATE_API_METRICS_PORT": str(port)} if service == "api" else {}
            found[instance_name(service, n, count)] = Child(service, args, env)
    return found


def instance_name(service: str, n: int, count: int) -> str:
    """Instance n of `count`: the service's name, numbered when there are several."""
    return service if count == 1 else f"{service}-{n}"


READY_TIMEOUT = 60.0


async def wait_until_healthy(base_url: str, timeout: float = READY_TIMEOUT) -> bool:
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(timeout=5) as http:
        while time.monotonic() < deadline:
            try:
                if (await http.get(f"{base_url}/readyz")).status_code == 200:
                    return True
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.3)
    return False


async def seed_demo(settings: Settings, local_url: str) -> None:
    from services.demo import run_demo

    if not await wait_until_healthy(local_url):
        print("fleetstate: the API did not become healthy; demo not seeded", file=sys.stderr)
        return
    try:
        print(await run_demo(settings, settings.public_base_url or local_url), flush=True)
    except Exception as exc:  # the services keep running; only the demo is missing
        print(f"fleetstate: demo not seeded: {exc}", file=sys.stderr)


async def run_all(settings: Settings) -> int:
    await migrate(settings.database_url)
    await ensure_topics(settings)
    processes = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "services.cli",
            child.service,
            *child.args,
            env={**os.environ, **child.env},
        )
        for child in children(settings).values()
    ]
    base_url = f"http://{settings.api_host}:{settings.api_port}"
    print(f"fleetstate: serving {base_url} (Ctrl-C stops)", flush=True)
    if NETWORK_SIM in services(settings):
        print(
            f"fleetstate: the network simulator answers {settings.network_out_topic} "
            "(FLEETSTATE_NETWORK_SIM=on: never in production)",
            flush=True,
        )
    seeding = asyncio.create_task(seed_demo(settings, base_url))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    waits = [asyncio.create_task(process.wait()) for process in processes]
    stopper = asyncio.create_task(stop.wait())
    await asyncio.wait([*waits, stopper], return_when=asyncio.FIRST_COMPLETED)
    seeding.cancel()
    for process in processes:
        if process.returncode is None:
            process.terminate()
    codes = await asyncio.gather(*(process.wait() for process in processes))
    return 0 if stop.is_set() else max(codes)
