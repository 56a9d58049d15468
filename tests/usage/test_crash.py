"""The crash test of the usage processor: SIGKILL it at random moments while reports flow
(duplicates and late ones among them); afterwards every report counted exactly once, every
threshold command sent and decided once, and the data state of every Sim is what its usage says."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from datetime import timedelta

import pytest

from events.codec import decode_command
from events.commands import UpdateFleet
from services.domain import fold
from services.domain.periods import BillingPeriod
from services.log_reader import read_all
from tests.processor.support import assert_log_is_exactly_once, committed_log
from tests.services import ServiceProcess
from tests.usage.pipeline import (
    now,
    provision,
    totals_from_log,
    usage_log,
    usage_log_grows,
    wait_until_answered,
    wait_until_counted,
)
from tests.usage.support import recomputed_totals, report

# CPU-heavy: under `make test`'s two xdist workers, these run one after another.
pytestmark = pytest.mark.xdist_group("heavy")

MAX_REPORTS = 60_000
KILLS = 5
MB = 1_000_000
MONTH = BillingPeriod.parse("month")


@pytest.mark.timeout(600)
async def test_killing_the_usage_processor_loses_and_duplicates_nothing(
    topics, client, processor, reporter, tmp_path
):
    rng = random.Random(11)
    worlds = [
        await provision(
            client, f"crash-{i}", ["ready", "ready", "active", "active", "active"], i + 1
        )
        for i in range(6)
    ]
    raised = worlds[0]  # its limit is raised half-way: resumptions happen under fire too
    victim = ServiceProcess("usage-processor", topics, log_path=tmp_path / "usage.log")
    victim.start()

    last_month = now().replace(day=1) - timedelta(hours=5)
    sent = []

    done = asyncio.Event()

    async def sender() -> None:
        i = 0
        while not done.is_set() and len(sent) < MAX_REPORTS:
            i += 1
            chunk = []
            for _ in range(20):
                roll = rng.random()
                if sent and roll < 0.1:
                    chunk.append(rng.choice(sent))  # a resent duplicate
                    continue
                world = rng.choice(worlds)
                end = last_month if roll < 0.2 else now()  # some late, out of order
                sim = rng.choice(world.sims)
                chunk.append(
                    report(world.account, sim, rng.randrange(30_000), rng.randrange(60_000),
                           end=end, network_sid=world.network)
                )  # fmt: skip
            sent.extend(chunk)
            await reporter.report_many(chunk)
            if i == 100:
                await client.execute(
                    UpdateFleet(fleet="fleet", data_limit=50), account_sid=raised.account
                )
            await asyncio.sleep(0.02)  # about 1,000 reports a second

    async def killer() -> None:
        while victim.kills < KILLS:
            # Only once this instance is committing batches, then at a random moment: the kills
            # land mid-stream, often mid-transaction, not while the group is still forming.
            await usage_log_grows(topics)
            await asyncio.sleep(rng.uniform(0.0, 1.5))
            victim.kill()
            await asyncio.sleep(rng.uniform(0.0, 0.5))
            victim.start()
        await usage_log_grows(topics)
        done.set()

    try:
        await asyncio.gather(sender(), killer())
        await wait_until_counted(topics, len(sent), timeout=180)
        await wait_until_answered(topics)  # the last threshold commands are decided too
    finally:
        victim.stop()
    assert victim.kills >= KILLS

    # 1. Every report counted once: the usage log's totals are a plain recomputation's.
    facts = await usage_log(topics)
    assert totals_from_log(facts) == recomputed_totals(sent)
    assert sum(f.reports for f in facts) == len(sent)
    sessions = Counter(
        (b.sim_sid, b.period_start, s) for f in facts for b in f.buckets for s in b.sessions
    )
    assert max(sessions.values()) == 1

    # 2. Every threshold command sent once, and decided once, with versions without gaps.
    commands = [
        decode_command(r.value)
        for rs in (await read_all(topics.kafka_bootstrap, topics.internal_topic)).values()
        for r in rs
    ]
    usage_ids = [c.command_id for c in commands if c.command_id.startswith("usage:")]
    assert len(usage_ids) == len(set(usage_ids)) > 0
    events, outcomes = await committed_log(topics)
    assert_log_is_exactly_once(events, outcomes, list({c.command_id for c in commands}))

    # 3. The data state of every Sim is what its usage and its Fleet's final limit say.
    state = fold(events)
    current = MONTH.start_of(now().timestamp())
    totals = recomputed_totals(sent)
    lifetime = Counter()
    for (sim, _), total in totals.items():
        lifetime[sim] += total
    for world in worlds:
        account = state.accounts[world.account]
        limit = account.fleets[world.fleet].data_limit
        for sim_sid in world.sims:
            sim = account.sims[sim_sid]
            used = totals.get((sim_sid, current), 0)
            assert sim.data_suspended == (used > limit * MB), (sim_sid, used, limit)
            if lifetime[sim_sid] >= 250_000:
                assert sim.status == "active"
            kinds = [e.type for e in events if e.aggregate_id == sim_sid and "Data" in e.type]
            assert all(a != b for a, b in zip(kinds, kinds[1:], strict=False)), kinds
            if world is not raised:
                assert kinds == (["SimDataSuspended"] if used > limit * MB else []), kinds
            usage_activations = [
                e
                for e in events
                if e.aggregate_id == sim_sid
                and e.type == "SimStatusChanged"
                and e.payload.reason == "data_usage"
            ]
            assert len(usage_activations) <= 1
