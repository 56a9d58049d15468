"""`fleetstate run`: prepares Kafka and Postgres, then runs every service as a child process.

Each service is its own process (a crash or a kill of one does not take the others down, and two
cores are used); this supervisor restarts none of them: it stops all when one exits or on Ctrl-C.
Once the API answers /readyz, the demo is seeded (idempotently) and its credentials printed.
"""

from __future__ import annotations

import asyncio
import signal
import sys
import time

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


def service_arguments(settings: Settings) -> dict[str, list[str]]:
    """Each service and its arguments: the processors serve their Prometheus metrics where
    the settings say (the API serves its own, on FLEETSTATE_API_METRICS_PORT). The network
    simulator takes its unreachable ICCIDs from the setting, in the environment it inherits."""
    metrics = {
        "processor": settings.processor_metrics_port,
        "usage-processor": settings.usage_metrics_port,
    }
    return {
        name: ["--metrics-port", str(metrics[name])] if metrics.get(name) else []
        for name in services(settings)
    }


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
    children = [
        await asyncio.create_subprocess_exec(sys.executable, "-m", "services.cli", name, *args)
        for name, args in service_arguments(settings).items()
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
    waits = [asyncio.create_task(child.wait()) for child in children]
    stopper = asyncio.create_task(stop.wait())
    await asyncio.wait([*waits, stopper], return_when=asyncio.FIRST_COMPLETED)
    seeding.cancel()
    for child in children:
        if child.returncode is None:
            child.terminate()
    codes = await asyncio.gather(*(child.wait() for child in children))
    return 0 if stop.is_set() else max(codes)
