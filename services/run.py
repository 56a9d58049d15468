"""`fleetstate run`: prepares Kafka and Postgres, then runs every service as a child process.

Each service is its own process (a crash or a kill of one does not take the others down, and two
cores are used); this supervisor restarts none of them: it stops all when one exits or on Ctrl-C.
"""

from __future__ import annotations

import asyncio
import signal
import sys

from services.config import Settings
from services.migrate import migrate
from services.topics import ensure_topics

SERVICES = ["processor", "projector", "api", "usage-processor", "usage-projector"]


async def run_all(settings: Settings) -> int:
    await migrate(settings.database_url)
    await ensure_topics(settings)
    children = [
        await asyncio.create_subprocess_exec(sys.executable, "-m", "services.cli", name)
        for name in SERVICES
    ]
    print(f"fleetstate: serving http://{settings.api_host}:{settings.api_port} (Ctrl-C stops)")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    waits = [asyncio.create_task(child.wait()) for child in children]
    stopper = asyncio.create_task(stop.wait())
    await asyncio.wait([*waits, stopper], return_when=asyncio.FIRST_COMPLETED)
    for child in children:
        if child.returncode is None:
            child.terminate()
    codes = await asyncio.gather(*(child.wait() for child in children))
    return 0 if stop.is_set() else max(codes)
