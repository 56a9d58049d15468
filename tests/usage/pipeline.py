"""A real pipeline for usage tests: accounts, Fleets and Sims made through the command processor,
reports sent through the UsageReporter, and what the processors committed read back."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from aiokafka import TopicPartition

from events.codec import decode_command, decode_event, decode_outcome
from events.commands import (
    CreateAccount,
    CreateFleet,
    CreateNetworkAccessProfile,
    NetworkIdentifier,
    ProvisionNetwork,
    ProvisionSimCard,
    RegisterSim,
    UpdateSim,
)
from events.envelope import EventEnvelope
from events.sids import OPERATOR_ACCOUNT_SID, derive_sid
from events.usage import UsageFacts, decode_facts
from services.config import Settings
from services.log_reader import log_consumer, partition_ids, read_all

# Each world gets its own carrier network and cards. A number per world, not a hash of its tag:
# six tags hashed into 900 mnc values collide about once in sixty runs (409 on the network).
_WORLDS = itertools.count()


@dataclass
class Fleetworld:
    account: str
    network: str
    fleet: str
    sims: list[str] = field(default_factory=list)


async def provision(
    client, tag: str, statuses: list[str], data_limit: int = 1, data_enabled: bool = True
) -> Fleetworld:
    """One account with a Fleet of `data_limit` MB and one Sim per status in `statuses`."""
    account = derive_sid("AC", f"usage-{tag}")
    n = next(_WORLDS)
    [network] = (
        await client.execute(
            ProvisionNetwork(
                friendly_name=f"Carrier {tag}",
                iso_country="FR",
                identifiers=[NetworkIdentifier(mcc="208", mnc=f"{n % 900 + 100}")],
            ),
            account_sid=OPERATOR_ACCOUNT_SID,
            timeout=60,
        )
    ).events
    iccids = [f"89330{n:08d}{i:06d}" for i in range(len(statuses))]
    cards = [
        client.envelope(
            ProvisionSimCard(iccid=iccid, registration_code=f"CODE{i:06d}"),
            account_sid=OPERATOR_ACCOUNT_SID,
        )
        for i, iccid in enumerate(iccids)
    ]
    await client.execute_many(cards, timeout=60)
    created = await client.execute(
        CreateAccount(friendly_name=f"usage {tag}", auth_token_hash="0" * 64), account_sid=account
    )
    assert created.status == "accepted", created
    await client.execute(CreateNetworkAccessProfile(unique_name="nap"), account_sid=account)
    [fleet] = (
        await client.execute(
            CreateFleet(
                network_access_profile="nap",
                unique_name="fleet",
                data_limit=data_limit,
                data_enabled=data_enabled,
            ),
            account_sid=account,
        )
    ).events
    world = Fleetworld(account=account, network=network.aggregate_id, fleet=fleet.aggregate_id)
    for i, (iccid, status) in enumerate(zip(iccids, statuses, strict=True)):
        outcome = await client.execute(
            RegisterSim(iccid=iccid, registration_code=f"CODE{i:06d}"), account_sid=account
        )
        assert outcome.status == "accepted", outcome
        sim = outcome.events[0].aggregate_id
        outcome = await client.execute(
            UpdateSim(sim=sim, fleet="fleet", status=status), account_sid=account
        )
        assert outcome.status == "accepted", outcome
        world.sims.append(sim)
    return world


async def events_of(settings: Settings) -> list[EventEnvelope]:
    records = await read_all(settings.kafka_bootstrap, settings.events_topic)
    return [decode_event(r.value) for rs in records.values() for r in rs]


async def usage_log(settings: Settings) -> list[UsageFacts]:
    records = await read_all(settings.kafka_bootstrap, settings.usage_log_topic)
    return [decode_facts(r.value) for rs in records.values() for r in rs]


async def wait_for(
    settings: Settings, predicate: Callable[[list[EventEnvelope]], bool], timeout: float = 60
) -> list[EventEnvelope]:
    """The events log once `predicate` holds for it."""
    deadline = time.monotonic() + timeout
    while True:
        events = await events_of(settings)
        if predicate(events):
            return events
        assert time.monotonic() < deadline, "timed out waiting for the events"
        await asyncio.sleep(0.3)


async def wait_until_counted(settings: Settings, reports: int, timeout: float = 120) -> None:
    """Until the usage log accounts for `reports` input reports."""
    deadline = time.monotonic() + timeout
    while sum(f.reports for f in await usage_log(settings)) < reports:
        assert time.monotonic() < deadline, "timed out waiting for the usage processor"
        await asyncio.sleep(0.3)


async def wait_until_answered(settings: Settings, timeout: float = 120) -> None:
    """Until every command on the internal topic (the usage processor's threshold commands,
    the card registry's steps) has its outcome: nothing sent so far is still undecided."""
    deadline = time.monotonic() + timeout
    while True:
        sent = await read_all(settings.kafka_bootstrap, settings.internal_topic)
        answered = await read_all(settings.kafka_bootstrap, settings.outcomes_topic)
        outcomes = [decode_outcome(r.value) for rs in answered.values() for r in rs]
        decided = {(o.account_sid, o.command_id) for o in outcomes if o.sender == "internal"}
        commands = [decode_command(r.value) for rs in sent.values() for r in rs]
        undecided = [c.command_id for c in commands if (c.account_sid, c.command_id) not in decided]
        if not undecided:
            return
        assert time.monotonic() < deadline, f"never decided: {undecided[:5]}"
        await asyncio.sleep(0.3)


async def usage_log_grows(settings: Settings, timeout: float = 60) -> None:
    """Returns once the usage log has grown by a few records since the call."""
    consumer = log_consumer(settings.kafka_bootstrap)
    await consumer.start()
    try:
        partitions = await partition_ids(settings.kafka_bootstrap, settings.usage_log_topic)
        tps = [TopicPartition(settings.usage_log_topic, p) for p in partitions]
        start = sum((await consumer.end_offsets(tps)).values())
        deadline = time.monotonic() + timeout
        while sum((await consumer.end_offsets(tps)).values()) < start + 6:
            assert time.monotonic() < deadline, "the usage processor does not commit"
            await asyncio.sleep(0.05)
    finally:
        await consumer.stop()


def data_events(events: list[EventEnvelope], sim: str, type_name: str) -> list[EventEnvelope]:
    return [e for e in events if e.aggregate_id == sim and e.type == type_name]


def totals_from_log(facts: list[UsageFacts]) -> dict[tuple[str, int], int]:
    totals: dict[tuple[str, int], int] = {}
    for record in facts:
        for b in record.buckets:
            key = (b.sim_sid, b.period_start)
            totals[key] = totals.get(key, 0) + b.bytes_up + b.bytes_down
    return totals


def now() -> datetime:
    return datetime.now(UTC)
