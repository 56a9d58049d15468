"""Reading what the processor wrote, and the exactly-once checks, for the processor tests."""

from __future__ import annotations

import asyncio
import time
from collections import Counter

from aiokafka import AIOKafkaProducer

from events.codec import decode_event, decode_outcome, encode_command
from events.commands import CommandEnvelope, partition_key, sender_of
from events.kafka_security import kafka_options
from services.config import Settings
from services.log_reader import read_all
from services.processor.partition import input_topics


async def committed_log(settings: Settings):
    """(events, outcomes) as a read_committed reader sees them."""
    event_records, outcome_records = await asyncio.gather(
        read_all(settings.kafka_bootstrap, settings.events_topic),
        read_all(settings.kafka_bootstrap, settings.outcomes_topic),
    )
    events = [decode_event(r.value) for records in event_records.values() for r in records]
    outcomes = [decode_outcome(r.value) for records in outcome_records.values() for r in records]
    return events, outcomes


async def assigned_log(settings, iccids: list[str], timeout: float = 60):
    """The committed (events, outcomes) once every card in `iccids` is assigned: a Sim's
    registration is answered when its account records it, and the card's ConfirmSimCard is
    decided a step later, so read the log only once that step is in it (processors running)."""
    async with asyncio.timeout(timeout):
        while True:
            events, outcomes = await committed_log(settings)
            assigned = {e.aggregate_id for e in events if e.type == "SimCardAssigned"}
            if set(iccids) <= assigned:
                return events, outcomes
            await asyncio.sleep(0.1)


async def send_raw(settings: Settings, envelopes: list[CommandEnvelope]) -> None:
    """Envelopes written as they are to the commands topic of their kind of sender, keyed as
    the client keys them, each appended a millisecond of broker time after the one before:
    a processor answers commands of several topics in the order of their broker time."""
    topics = {sender: topic for topic, sender in input_topics(settings).items()}
    producer = AIOKafkaProducer(**kafka_options(settings.kafka_bootstrap), acks="all")
    await producer.start()
    try:
        for envelope in envelopes:
            stored = await producer.send_and_wait(
                topics[sender_of(envelope.command)],
                encode_command(envelope),
                key=partition_key(envelope).encode(),
            )
            # The broker's clock is this one: wait for it to pass the append time.
            await asyncio.sleep(max(0.0, (stored.timestamp + 1) / 1000 - time.time()))
    finally:
        await producer.stop()


def assert_log_is_exactly_once(events, outcomes, command_ids: list[str]) -> None:
    """Every command answered exactly once; no event twice; every aggregate's versions 1..n."""
    answered = Counter(o.command_id for o in outcomes)
    missing = [c for c in command_ids if answered[c] == 0]
    repeated = {c: n for c, n in answered.items() if n > 1}
    assert not missing, f"{len(missing)} commands never answered, e.g. {missing[:3]}"
    assert not repeated, f"{len(repeated)} commands answered more than once"
    duplicates = [e for e, n in Counter(e.event_id for e in events).items() if n > 1]
    assert not duplicates, f"{len(duplicates)} events appended twice"
    versions: dict[str, list[int]] = {}
    for event in events:
        versions.setdefault(event.aggregate_id, []).append(event.aggregate_version)
    gaps = {a: v for a, v in versions.items() if sorted(v) != list(range(1, len(v) + 1))}
    assert not gaps, f"aggregates with gaps or repeats in their versions: {list(gaps.items())[:3]}"
    # Every accepted outcome names events the log holds: exactly its command's own, or, for a
    # command a process answered (a registration, a move), those of the step that answered it
    # (their command ids are the command's, with the step's name after a colon).
    by_id = {event.event_id: event for event in events}
    by_command: dict[str, set[str]] = {}
    for event in events:
        by_command.setdefault(event.command_id, set()).add(event.event_id)
    for outcome in outcomes:
        if outcome.status != "accepted":
            continue
        named = {ref.event_id for ref in outcome.events}
        assert named <= set(by_id), f"{outcome.command_id} names events not in the log"
        causes = {by_id[event_id].command_id for event_id in named}
        if causes <= {outcome.command_id}:
            assert named == by_command.get(outcome.command_id, set()), outcome.command_id
        else:
            step = outcome.command_id + ":"
            assert all(c.startswith(step) for c in causes - {outcome.command_id}), causes


def settled(events) -> bool:
    """Every active Sim was answered for its last activation (an address, or none free), and
    the registry holds exactly the addresses the Sims hold: no step is still under way."""
    last_activation: dict[str, str | None] = {}
    answered: set[tuple[str, str]] = set()
    sims_hold: dict[str, tuple[str, str]] = {}
    registry: dict[str, tuple[str, str]] = {}
    for e in events:
        p = e.payload
        if e.type == "SimStatusChanged":
            last_activation[e.aggregate_id] = e.command_id if p.to_status == "active" else None
        elif e.type in ("SimIpAddressAssigned", "SimIpAddressUnavailable"):
            answered.add((e.aggregate_id, p.request_id))
            if e.type == "SimIpAddressAssigned":
                sims_hold[e.aggregate_id] = (p.ip_address, p.request_id)
        elif e.type == "SimIpAddressReleased":
            sims_hold.pop(e.aggregate_id, None)
        elif e.type == "IpAddressAllocated":
            registry[e.aggregate_id] = (p.sim_sid, p.request_id)
        elif e.type == "IpAddressReleased":
            registry.pop(e.aggregate_id, None)
    waiting = [s for s, r in last_activation.items() if r is not None and (s, r) not in answered]
    held = {address: (sim, r) for sim, (address, r) in sims_hold.items()}
    return not waiting and held == registry


async def settled_log(settings: Settings, timeout: float = 120):
    """The committed (events, outcomes) once no address step is under way (`settled`)."""
    async with asyncio.timeout(timeout):
        while True:
            events, outcomes = await committed_log(settings)
            if settled(events):
                return events, outcomes
            await asyncio.sleep(0.2)
