"""fleetstate services as real child processes that a test can SIGKILL, pause and restart."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Iterable
from pathlib import Path

import httpx

from services.config import Settings, environment_of

# Run before the service's own code, in its process: Linux sends it SIGTERM when the thread
# that started it ends, so a test run killed outright (SIGKILL, a CI timeout) leaves no service
# running on. The setting survives the exec into the service.
_DIE_WITH_PARENT = (
    "import ctypes, os, signal, sys; "
    "ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM); "  # PR_SET_PDEATHSIG
    "os.getppid() == int(sys.argv[1]) or os.kill(os.getpid(), signal.SIGTERM); "
    "os.execv(sys.executable, [sys.executable, *sys.argv[2:]])"
)


class ServiceProcess:
    """`fleetstate <name>` with the test's settings, logging to `log_path`."""

    def __init__(
        self,
        name: str,
        settings: Settings,
        *extra: str,
        log_path: Path | str | None = None,
        env: dict[str, str] | None = None,
        module: str | None = None,
    ) -> None:
        self.name = name
        self.settings = settings
        self.extra = extra
        self.log_path = log_path
        self.env = environment_of(settings)
        # The broker's minimum: a killed member's partitions move on after 6 s, not 10.
        self.env["FLEETSTATE_PROCESSOR_SESSION_TIMEOUT_MS"] = "6000"
        self.env.update(env or {})
        # `python -m module *extra` instead of `fleetstate <name>`: a test's own variant.
        self.module = module
        self.process: subprocess.Popen | None = None
        self.kills = 0

    def start(self) -> None:
        log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        command = ["-m", "services.cli", "-v", self.name, *self.extra]
        if self.module is not None:
            command = ["-m", self.module, *self.extra]
        if threading.current_thread() is threading.main_thread():
            # Only from the main thread: a worker thread may end long before the test does.
            command = ["-c", _DIE_WITH_PARENT, str(os.getpid()), *command]
        self.process = subprocess.Popen(
            [sys.executable, *command],
            env=self.env,
            stdout=log,
            stderr=log,
        )

    def kill(self) -> None:
        """SIGKILL: no clean-up, no flush, whatever the process was doing."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()
        self.kills += 1

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


# What serves the REST API: a command is decided, projected and read back.
API_SERVICES = ("processor", "projector", "api")


async def wait_healthy(base_url: str, timeout: float = 60) -> None:
    """Until the API at `base_url` says it is ready (its dependencies answer)."""
    await until_ok(f"{base_url}/readyz", timeout)


async def until_ok(url: str, timeout: float = 60) -> None:
    """Until a GET of `url` answers 200 (refused connections and other statuses: again)."""
    async with httpx.AsyncClient() as http:
        async with asyncio.timeout(timeout):
            while True:
                try:
                    if (await http.get(url)).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.2)


@contextlib.asynccontextmanager
async def serving(
    settings: Settings,
    logs: Path,
    names: Iterable[str] = API_SERVICES,
    *,
    env: dict[str, str] | None = None,
    unset: Iterable[str] = (),
) -> AsyncIterator[list[ServiceProcess]]:
    """`names` started as child processes, each logging to `logs`/<name>.log, with `env`
    added to and `unset` taken from their environment; the API (if one of them) awaited until
    ready. On leaving, each is stopped (SIGTERM, then waited for), the last started first."""
    names, services = tuple(names), []
    try:
        for name in names:
            service = ServiceProcess(name, settings, log_path=Path(logs) / f"{name}.log", env=env)
            for variable in unset:
                service.env.pop(variable, None)
            services.append(service)
            service.start()
        if "api" in names:
            await wait_healthy(f"http://127.0.0.1:{settings.api_port}")
        yield services
    finally:
        for service in reversed(services):
            service.stop()
