"""fleetstate services as real child processes that a test can SIGKILL, pause and restart."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

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
