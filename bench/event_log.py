"""A large event log, made fast: the workload's commands decided by the pure decider (no
processor), each event chained and encoded exactly as the processor does, and produced with
raw aiokafka in transactions of TRANSACTION_EVENTS events, so the topic holds transaction
markers as the processor's does and is read with read_committed like it.

Events are made and produced a chunk at a time, so ten million of them never sit in memory.
With `live` set, the log changes a fixed set of aggregates (that many accounts, each with a
profile, two Fleets and four Sims) over and over: its history grows, its live state does not.
Those changes (data limits, Sim names, Sims in and out of service) are made as events directly,
each with the next version of its aggregate, which is ten times faster than deciding them.
"""

from __future__ import annotations

import functools
import random
import time
from collections import deque
from collections.abc import Iterator
from datetime import UTC, datetime

import msgspec
from aiokafka import AIOKafkaProducer
from aiokafka.partitioner import murmur2

from bench.workload import Workload
from events import event_types as ev
from events.chain import GENESIS_HASH, link_hash
from events.codec import encode_event
from events.commands import partition_key
from events.envelope import EventEnvelope, Rejection, event_ref
from events.event_types import SCHEMA_VERSIONS
from events.kafka_security import kafka_options
from services.domain import State, decide, evolve
from services.domain.follow_ups import follow_ups, placed

TRANSACTION_EVENTS = 5000
CHANGED_AT = datetime(2026, 1, 1, tzinfo=UTC)
CHUNK = 50_000

Event = tuple[int, bytes, bytes]  # partition, key, stored value


@functools.cache
def partition_of(account_sid: str, partitions: int) -> int:
    """The partition the default (Java-compatible) partitioner gives a key."""
    return (murmur2(account_sid.encode()) & 0x7FFFFFFF) % partitions


def event_chunks(
    count: int, partitions: int, seed: int = 7, live: int | None = None
) -> Iterator[list[Event]]:
    """At least `count` events, chained per partition, in chunks of about CHUNK."""
    accounts = live if live is not None else max(10, count // 500)
    workload = Workload(seed=seed, accounts=accounts, sims_per_account=4)
    state = State()
    last_hash = dict.fromkeys(range(partitions), GENESIS_HASH)
    command_offsets = dict.fromkeys(range(partitions), 0)

    def decided() -> Iterator[tuple[int, EventEnvelope]]:
        for commands in (workload.operator_commands(), workload.setup_commands()):
            yield from _decided(commands)
        if live is not None:
            yield from _changes_of(state, seed, partitions)
        while True:
            yield from _decided(workload.steady_commands(CHUNK))

    def _decided(commands) -> Iterator[tuple[int, EventEnvelope]]:
        # Each command with the steps it sends to other partitions (a registration's, with
        # the card's partition): all decided against one state, as every partition would.
        queue = deque(commands)
        while queue:
            command = queue.popleft()
            p = partition_of(partition_key(command), partitions)
            command_offsets[p] += 1
            result = decide(state, command)
            if not isinstance(result, Rejection):
                for event in result:
                    evolve(state, event)
                    yield p, msgspec.structs.replace(event, command_offset=command_offsets[p])
            refs = [] if isinstance(result, Rejection) else [event_ref(e) for e in result]
            queue.extendleft(
                reversed([placed(f, refs) for f in follow_ups(state, command, result)])
            )

    chunk: list[Event] = []
    made = 0
    for p, event in decided():
        value = encode_event(msgspec.structs.replace(event, prev_hash=last_hash[p]))
        last_hash[p] = link_hash(value)
        chunk.append((p, event.account_sid.encode(), value))
        if len(chunk) >= CHUNK or made + len(chunk) >= count:
            made += len(chunk)
            yield chunk
            chunk = []
            if made >= count:
                return


def _changes_of(state: State, seed: int, partitions: int) -> Iterator[tuple[int, EventEnvelope]]:
    """Endless changes of the live aggregates in `state`, each its aggregate's next version."""
    rng = random.Random(seed)
    fleets = [(a, f) for a in state.accounts.values() for f in a.fleets.values()]
    sims = [(a, s) for a in state.accounts.values() for s in a.sims.values()]
    versions = {f.sid: f.version for _, f in fleets} | {s.sid: s.version for _, s in sims}
    names: dict[str, str | None] = {s.sid: s.unique_name for _, s in sims}
    limits = {f.sid: f.data_limit for _, f in fleets}
    n = 0
    while True:
        n += 1
        if rng.random() < 0.5:
            account, fleet = rng.choice(fleets)
            limit = rng.randrange(1, 2_000_001)
            payload = ev.FleetDataLimitChanged(
                from_data_limit=limits[fleet.sid], to_data_limit=limit
            )
            limits[fleet.sid], aggregate, kind = limit, fleet.sid, "Fleet"
        else:
            account, sim = rng.choice(sims)
            name = f"sim-{n}"  # unique: a name is never taken twice
            payload = ev.SimRenamed(from_unique_name=names[sim.sid], to_unique_name=name)
            names[sim.sid], aggregate, kind = name, sim.sid, "Sim"
        versions[aggregate] += 1
        type_name = type(payload).__name__
        yield (
            partition_of(account.sid, partitions),
            EventEnvelope(
                event_id=f"EV{n:032x}",
                type=type_name,
                schema_version=SCHEMA_VERSIONS[type_name],
                account_sid=account.sid,
                aggregate_type=kind,
                aggregate_id=aggregate,
                aggregate_version=versions[aggregate],
                occurred_at=CHANGED_AT,
                command_id=f"bench-change-{n}",
                correlation_id=None,
                actor="bench",
                payload=payload,
            ),
        )


def encoded_events(count: int, partitions: int, seed: int = 7) -> list[Event]:
    """At least `count` events as one list (for logs that fit in memory)."""
    return [event for chunk in event_chunks(count, partitions, seed) for event in chunk]


async def produce(bootstrap: str, topic: str, events: list[Event] | Iterator[list[Event]]):
    """Produces the events in order, in transactions; returns (events, seconds) for chunks,
    the seconds alone for a list."""
    chunks = [events] if isinstance(events, list) else events
    producer = AIOKafkaProducer(
        **kafka_options(bootstrap),
        transactional_id=f"bench-event-log.{topic}",
        acks="all",
        enable_idempotence=True,
        linger_ms=5,
        max_batch_size=1024 * 1024,
        max_request_size=8 * 1024 * 1024,
    )
    await producer.start()
    started = time.perf_counter()
    produced = 0
    try:
        for chunk in chunks:
            for start in range(0, len(chunk), TRANSACTION_EVENTS):
                async with producer.transaction():
                    for p, key, value in chunk[start : start + TRANSACTION_EVENTS]:
                        await producer.send(topic, value, key=key, partition=p)
            produced += len(chunk)
    finally:
        await producer.stop()
    seconds = time.perf_counter() - started
    return seconds if isinstance(events, list) else (produced, seconds)
