"""Webhook receivers for the delivery tests: real HTTP servers on 127.0.0.1, stopped after."""

from __future__ import annotations

import ssl

import pytest

from tests.delivery.receiver import Receiver


@pytest.fixture
async def start_receiver():
    """Starts a Receiver (see receiver.py) on a free port; every one is stopped after the test."""
    started: list[Receiver] = []

    async def start(ssl_context: ssl.SSLContext | None = None) -> Receiver:
        started.append(await Receiver(ssl_context=ssl_context).start())
        return started[-1]

    yield start
    for receiver in started:
        await receiver.stop()
