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
        await asyncio.sleep(1.0)  # the projector is busy before the replay starts
        report = await replay(settings, "while_moving", verify_against="public")
        await asyncio.sleep(1.0)  # ... and after it has read the live positions
        stop.set()
        sent = await sending
    assert report.differences == []
    conn = await asyncpg.connect(settings.database_url)
    try:
        rows = await conn.fetch("select partition, next_offset from public.projection_offsets")
    finally:
        await conn.close()
    live_now = {row["partition"]: row["next_offset"] for row in rows}
    # The live projection did move past what the replay compared with.
    assert any(live_now[p] > offset for p, offset in report.read_up_to.items()), (sent, live_now)
