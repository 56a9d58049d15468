"""replay --verify against a live projection that keeps moving: the comparison is with one
snapshot of it, at the offsets the replay read up to, so a busy system verifies clean."""

from __future__ import annotations

import asyncio

import asyncpg

from events.client import CommandClient
from events.commands import UpdateFleet
from services.audit.replay import replay
from tests.domain.support import ACCOUNT_A


async def _keep_changing(client: CommandClient, stop: asyncio.Event) -> int:
    sent = 0
    while not stop.is_set():
        batch = [
            client.envelope(
                UpdateFleet(fleet="fleet-old", data_limit=1 + sent + i), account_sid=ACCOUNT_A
            )
            for i in range(20)
        ]
        await client.execute_many(batch, timeout=60)
        sent += len(batch)
    return sent


async def _live(settings) -> dict[int, int]:
    """Where the live projection stands: partition -> next offset."""
    conn = await asyncpg.connect(settings.database_url)
    try:
        rows = await conn.fetch("select partition, next_offset from public.projection_offsets")
    finally:
        await conn.close()
    return {row["partition"]: row["next_offset"] for row in rows}


async def _until_live_passes(settings, positions: dict[int, int]) -> dict[int, int]:
    """Waits until the live projection has moved past `positions` on some partition."""
    async with asyncio.timeout(120):
        while True:
            live = await _live(settings)
            if any(live.get(p, 0) > offset for p, offset in positions.items()):
                return live
            await asyncio.sleep(0.1)


async def test_a_verify_while_commands_keep_coming_finds_no_difference(audited):
    settings = audited.settings
    async with CommandClient(
        settings.kafka_bootstrap,
        commands_topic=settings.commands_topic,
        operator_topic=settings.operator_topic,
        internal_topic=settings.internal_topic,
        outcomes_topic=settings.outcomes_topic,
    ) as client:
        stop = asyncio.Event()
        sending = asyncio.create_task(_keep_changing(client, stop))
        await _until_live_passes(settings, await _live(settings))  # busy before the replay
        report = await replay(settings, "while_moving", verify_against="public")
        # ... and moving past what the replay compared with, before the changes stop.
        await _until_live_passes(settings, report.read_up_to)
        stop.set()
        await sending
    assert report.differences == []
