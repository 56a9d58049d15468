"""CPU seconds of a process of this host, read from Linux's /proc (None for a process that is
not here: ended, or on another host). Replay reports what its work cost with it, and the
benchmarks what each part of the stack spent."""

from __future__ import annotations

import os
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> list[str] | None:
    """/proc/PID/stat's fields after the process name (its state first)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU the process has used so far."""
    fields = _stat(pid)
    return None if fields is None else (int(fields[11]) + int(fields[12])) / TICK


def reaped_cpu_seconds(pid: int) -> float | None:
    """User + system CPU of the process's ended children that it has waited for: for a
    PostgreSQL postmaster, of its ended backends and parallel workers."""
    fields = _stat(pid)
    return None if fields is None else (int(fields[13]) + int(fields[14])) / TICK


def parent_of(pid: int) -> int | None:
    fields = _stat(pid)
    return None if fields is None else int(fields[1])
