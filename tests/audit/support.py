"""Running the `fleetstate` command line as a child process, as an operator would."""

from __future__ import annotations

import asyncio
import sys

from services.config import Settings, environment_of


async def fleetstate(settings: Settings, *args: str, timeout: float = 120) -> tuple[int, str]:
    """Runs `fleetstate ARGS` with `settings`; returns its exit code and what it printed."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "services.cli",
        *args,
        env={**environment_of(settings), "COLUMNS": "200"},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    async with asyncio.timeout(timeout):
        output, _ = await process.communicate()
    return process.returncode, output.decode()
