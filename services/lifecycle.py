"""How a long-running service process starts and stops: Ctrl-C or SIGTERM asks it to finish
its batch in flight and stop; the processors may serve Prometheus metrics on a port."""

from __future__ import annotations

import asyncio
import signal


def stop_on_signals() -> asyncio.Event:
    """An event set by SIGINT or SIGTERM (call inside the running loop)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    return stop


def serve_metrics(port: int) -> None:
    """Prometheus text on 127.0.0.1:`port`; 0 serves nothing."""
    if port:
        from prometheus_client import start_http_server

        start_http_server(port, addr="127.0.0.1")
