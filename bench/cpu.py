"""CPU seconds by process, read from Linux's /proc: what each part of the stack spent on a
phase, less moved by whatever else the machine runs than the phase's latencies are."""

from __future__ import annotations

import os
from pathlib import Path

from services import process_cpu


def cpu_seconds(pid: int, children: bool = False) -> float:
    """User + system CPU of the process (and of its children it has waited for)."""
    own = process_cpu.cpu_seconds(pid)
    if own is None:
        raise ProcessLookupError(pid)
    return own + ((process_cpu.reaped_cpu_seconds(pid) or 0.0) if children else 0.0)


def by_part(named: dict[str, int]) -> dict[str, float]:
    """CPU seconds so far of the `named` processes (name -> pid), of this process ("bench"),
    of the broker (the JVM: "kafka") and of PostgreSQL (every postgres process, and the
    backends that have ended, counted in their postmaster: "postgres")."""
    parts = {name: cpu_seconds(pid) for name, pid in named.items()}
    parts["bench"] = cpu_seconds(os.getpid())
    parts["kafka"] = parts["postgres"] = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "comm").read_text().strip()
            if command == "java":
                parts["kafka"] += cpu_seconds(int(entry.name))
            elif command in ("postgres", "postmaster"):
                parts["postgres"] += cpu_seconds(int(entry.name), children=True)
        except (FileNotFoundError, ProcessLookupError):
            continue  # ended while looked at
    return parts


def spent(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    return {name: after[name] - before.get(name, 0.0) for name in after}
