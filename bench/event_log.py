"""A large event log, made fast: the workload's commands decided by the pure decider (no
processor), each event chained and encoded exactly as the processor does, and produced with
raw aiokafka in transactions of TRANSACTION_EVENTS events, so the topic holds transaction
markers as the processor's does and is read with read_committed like it.
"""

from __future__ import annotations

import time

import msgspec
from aiokafka import AIOKafkaProducer
from aiokafka.partitioner import murmur2

from bench.workload import Workload
from events.codec import encode_event
from events.envelope import Rejection
from services.audit.chain import GENESIS_HASH, link_hash
from services.domain import State, decide, evolve

TRANSACTION_EVENTS = 5000


def partition_of(account_sid: str, partitions: int) -> int:
    """The partition the default (Java-compatible) partitioner gives a key."""
    return (murmur2(account_sid.encode()) & 0x7FFFFFFF) % partitions


def encoded_events(count: int, partitions: int, seed: int = 7) -> list[tuple[int, bytes, bytes]]:
    """At least `count` events as (partition, key, stored value), chained per partition."""
    workload = Workload(seed=seed, accounts=max(10, count // 500), sims_per_account=4)
    state = State()
    last_hash = dict.fromkeys(range(partitions), GENESIS_HASH)
    command_offsets = dict.fromkeys(range(partitions), 0)
    out: list[tuple[int, bytes, bytes]] = []
    phases = iter([workload.operator_commands(), workload.setup_commands()])
    while len(out) < count:
        commands = next(phases, None) or workload.steady_commands(50_000)
        for command in commands:
            p = partition_of(command.account_sid, partitions)
            command_offsets[p] += 1
            result = decide(state, command)
            if isinstance(result, Rejection):
                continue
            for event in result:
                evolve(state, event)
                event = msgspec.structs.replace(
                    event, command_offset=command_offsets[p], prev_hash=last_hash[p]
                )
                value = encode_event(event)
                last_hash[p] = link_hash(value)
                out.append((p, event.account_sid.encode(), value))
            if len(out) >= count:
                break
    return out


async def produce(bootstrap: str, topic: str, events: list[tuple[int, bytes, bytes]]) -> float:
    """Produces the events in order, in transactions; returns the seconds it took."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        transactional_id=f"bench-event-log.{topic}",
        acks="all",
        enable_idempotence=True,
        linger_ms=5,
        max_batch_size=1024 * 1024,
        max_request_size=8 * 1024 * 1024,
    )
    await producer.start()
    started = time.perf_counter()
    try:
        for start in range(0, len(events), TRANSACTION_EVENTS):
            async with producer.transaction():
                for p, key, value in events[start : start + TRANSACTION_EVENTS]:
                    await producer.send(topic, value, key=key, partition=p)
    finally:
        await producer.stop()
    return time.perf_counter() - started
