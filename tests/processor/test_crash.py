"""The crash tests: SIGKILL the processor at random moments while commands flow; every command
is still answered exactly once, no event is appended twice, no aggregate version is skipped."""

from __future__ import annotations

import asyncio
import os
import random

import pytest

from bench.workload import Workload
from tests.processor.support import assert_log_is_exactly_once, committed_log
from tests.services import ServiceProcess

# CPU-heavy: under `make test`'s two xdist workers, these run one after another.
pytestmark = pytest.mark.xdist_group("heavy")

COMMANDS = int(os.environ.get("FLEETSTATE_CRASH_COMMANDS", "10000"))
KILLS = 5


async def drive_while_killing(client, victims: list[ServiceProcess], seed: int):
    """Sends COMMANDS commands at a steady pace while SIGKILLing a victim at random moments
    (at least KILLS times), restarting it each time; returns every command id sent."""
    rng = random.Random(seed)
    workload = Workload(seed=seed, accounts=40, sims_per_account=3)
    operator = workload.operator_commands()
    setup = workload.setup_commands()
    await client.execute_many(operator, timeout=120)
    await client.execute_many(setup, timeout=120)
    steady = workload.steady_commands(COMMANDS - len(operator) - len(setup))

    async def killer() -> None:
        while sum(v.kills for v in victims) < KILLS:
            await asyncio.sleep(rng.uniform(1.0, 3.0))  # often mid-batch, sometimes mid-start
            victim = rng.choice(victims)
            victim.kill()
            await asyncio.sleep(rng.uniform(0.0, 0.5))
            victim.start()

    async def sender() -> list:
        # About 1,000 commands a second, so that traffic flows through every kill.
        outcomes = []
        chunk = 100
        pending = []
        for start in range(0, len(steady), chunk):
            pending.append(
                asyncio.create_task(client.execute_many(steady[start : start + chunk], timeout=300))
            )
            await asyncio.sleep(0.1)
        for task in pending:
            outcomes += await task
        return outcomes

    kills = asyncio.create_task(killer())
    outcomes = await sender()
    await kills
    assert len(outcomes) == len(steady)
    return [e.command_id for e in operator + setup + steady]


@pytest.mark.timeout(600)
async def test_killing_the_processor_loses_and_duplicates_nothing(topics, client, tmp_path):
    processor = ServiceProcess("processor", topics, log_path=str(tmp_path / "processor.log"))
    processor.start()
    try:
        command_ids = await drive_while_killing(client, [processor], seed=1)
    finally:
        processor.stop()
    assert processor.kills >= KILLS
    events, outcomes = await committed_log(topics)
    assert_log_is_exactly_once(events, outcomes, command_ids)
    assert sum(o.status == "accepted" for o in outcomes) > len(command_ids) / 2


@pytest.mark.timeout(600)
async def test_two_processors_share_the_work_and_killing_one_loses_nothing(
    topics, client, tmp_path
):
    survivor = ServiceProcess("processor", topics, log_path=str(tmp_path / "survivor.log"))
    victim = ServiceProcess("processor", topics, log_path=str(tmp_path / "victim.log"))
    survivor.start()
    victim.start()
    try:
        command_ids = await drive_while_killing(client, [victim], seed=2)
    finally:
        victim.stop()
        survivor.stop()
    assert victim.kills >= KILLS
    events, outcomes = await committed_log(topics)
    assert_log_is_exactly_once(events, outcomes, command_ids)
