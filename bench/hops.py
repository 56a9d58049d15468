"""Where a write's time goes: the hops of `POST /v1/Fleets` until its 201, from the spans the
services export (tests/tracing/receiver.py receives them), and the raw ceilings of the hops that
cross Kafka or PostgreSQL, measured in the same run.

One request's trace (every process stamps its spans from the same machine clock):
  api      POST /v1/Fleets (server)  ├ send <commands> ├ await outcome ├ await projection ┤
  processor                                 process <commands> · commit transaction (a trace of
                                            its own, linked to the decision)
  projector                                   process <events> (batch arrival -> its commit)
The hops follow one another, so their means add up to the request's mean.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import defaultdict

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import NewTopic

from events.kafka_security import kafka_options
from services.config import Settings
from services.log_reader import FETCH_MAX_WAIT_MS
from services.runtime.producer import transactional_producer
from services.topics import ensure_topics

# (hop, what it is, the ceiling it is printed beside)
HOPS = (
    ("api in", "HTTP request read, auth, form parsed, until the command is sent", None),
    ("command produced", "the command's send until the broker's ack", "kafka"),
    ("command fetched", "ack until the processor starts deciding it", "kafka"),
    ("decided", "the processor's decision", None),
    ("transaction", "decided until its transaction committed (batching included)", "txn"),
    ("outcome fetched", "committed until the API has the outcome", "committed"),
    ("projected", "outcome until the API sees the read model include the events", "pg"),
    ("api out", "the read model seen until the response is sent", None),
)
PROJECTOR_PART = "  of which the projector's commit"


def hop_times(spans, commands_topic: str, events_topic: str) -> dict[str, list[float]]:
    """Each hop's seconds, over the traces of complete POST /v1/Fleets requests."""
    by_trace = defaultdict(list)
    commits_by_link = {}
    for span in spans:
        by_trace[span.trace_id].append(span)
        if span.name == "commit transaction":
            for _, linked in span.links:
                commits_by_link[linked] = span
    times: dict[str, list[float]] = defaultdict(list)
    for trace in by_trace.values():
        named = {(s.service, s.name): s for s in trace}
        server = named.get(("fleetstate-api", "POST /v1/Fleets"))
        send = named.get(("fleetstate-api", f"send {commands_topic}"))
        outcome = named.get(("fleetstate-api", "await outcome"))
        projection = named.get(("fleetstate-api", "await projection"))
        decision = named.get(("fleetstate-processor", f"process {commands_topic}"))
        projector = named.get(("fleetstate-projector", f"process {events_topic}"))
        commit = commits_by_link.get(decision.span_id) if decision else None
        if None in (server, send, outcome, projection, decision, commit):
            continue
        marks = (
            server.start_ns,
            send.start_ns,
            send.end_ns,
            decision.start_ns,
            decision.end_ns,
            commit.end_ns,
            outcome.end_ns,
            projection.end_ns,
            server.end_ns,
        )
        for (hop, _, _), begin, end in zip(HOPS, marks, marks[1:], strict=False):
            times[hop].append((end - begin) / 1e9)
        times["request"].append((server.end_ns - server.start_ns) / 1e9)
        if projector is not None:
            times[PROJECTOR_PART].append((projector.end_ns - projector.start_ns) / 1e9)
    return dict(times)


# --- ceilings, on the same broker and database ------------------------------------------------


async def _reader_at_end(settings: Settings, tp: TopicPartition) -> AIOKafkaConsumer:
    """A read_committed consumer of `tp` from its end, as the services read (their fetch
    wait), started: what it reads next was written after this returns."""
    consumer = AIOKafkaConsumer(
        **kafka_options(settings.kafka_bootstrap),
        isolation_level="read_committed",
        fetch_max_wait_ms=FETCH_MAX_WAIT_MS,
        enable_auto_commit=False,
    )
    await consumer.start()
    consumer.assign([tp])
    await consumer.seek_to_end(tp)
    await consumer.position(tp)
    return consumer


async def kafka_hop(settings: Settings, rate: int, seconds: float) -> list[float]:
    """A record's produce (acks=all, idempotent, no linger, as the services send) until a
    read_committed consumer has it, at `rate` records/s."""
    topic = f"{settings.commands_topic}.ceiling-{uuid.uuid4().hex[:6]}"
    await ensure_topics(settings, [NewTopic(topic, 1, settings.replication_factor)])
    producer = AIOKafkaProducer(
        **kafka_options(settings.kafka_bootstrap), acks="all", enable_idempotence=True, linger_ms=0
    )
    await producer.start()
    tp = TopicPartition(topic, 0)
    consumer = await _reader_at_end(settings, tp)
    sent: dict[bytes, float] = {}
    delays: list[float] = []
    total = int(rate * seconds)

    async def read() -> None:
        while len(delays) < total:
            for records in (await consumer.getmany(timeout_ms=200)).values():
                delays.extend(time.perf_counter() - sent[r.value] for r in records)

    reader = asyncio.create_task(read())
    try:
        start = time.perf_counter()
        for i in range(total):
            await asyncio.sleep(max(0.0, start + i / rate - time.perf_counter()))
            value = i.to_bytes(8, "big")
            sent[value] = time.perf_counter()
            await producer.send(topic, value)
        async with asyncio.timeout(30):
            await reader
    finally:
        reader.cancel()
        await producer.stop()
        await consumer.stop()
    return delays


async def kafka_transaction(settings: Settings, count: int) -> tuple[list[float], list[float]]:
    """One transaction shaped as a command's (an event, an outcome, and two changelog records:
    a state record and the input position), one at a time, by a producer tuned as the
    services' (services/runtime/producer.py): each transaction's seconds, and the seconds from
    its commit until a read_committed consumer of the outcomes has the outcome (nothing else
    is written meanwhile, so nothing but the commit can wake that consumer's fetch)."""
    tag = uuid.uuid4().hex[:6]
    events = f"{settings.events_topic}.ceiling-{tag}"
    outcomes = f"{settings.outcomes_topic}.ceiling-{tag}"
    changelog = f"{settings.processor_changelog_topic}.ceiling-{tag}"
    await ensure_topics(
        settings,
        [NewTopic(t, 1, settings.replication_factor) for t in (events, outcomes, changelog)],
    )
    producer = transactional_producer(settings.kafka_bootstrap, f"bench-ceiling-{tag}")
    await producer.start()
    tp = TopicPartition(outcomes, 0)
    consumer = await _reader_at_end(settings, tp)
    seconds, visible = [], []
    try:
        for i in range(count):
            began = time.perf_counter()
            async with producer.transaction():
                await producer.send(events, b"e" * 400)
                await producer.send(outcomes, i.to_bytes(8, "big") + b"o" * 200)
                await producer.send(changelog, b"s" * 300, key=b"state")
                await producer.send(changelog, b"[[0,%d]]" % (i + 1), key=b"input")
            committed = time.perf_counter()
            seconds.append(committed - began)
            async with asyncio.timeout(10):
                while not await consumer.getmany(tp, timeout_ms=1000):
                    pass
            visible.append(time.perf_counter() - committed)
    finally:
        await producer.stop()
        await consumer.stop()
    return seconds, visible


async def postgres_commit(dsn: str, count: int) -> list[float]:
    """One row written, its position noted and a NOTIFY sent, in one transaction, as the
    projector commits a batch."""
    conn = await asyncpg.connect(dsn)
    table = f"ceiling_{uuid.uuid4().hex[:6]}"
    await conn.execute(f"create table {table} (sid text primary key, body jsonb)")
    seconds = []
    try:
        for i in range(count):
            began = time.perf_counter()
            async with conn.transaction():
                await conn.execute(f"insert into {table} values ($1, '{{}}')", f"FL{i}")
                await conn.execute("select pg_notify('ceiling', $1)", str(i))
            seconds.append(time.perf_counter() - began)
    finally:
        await conn.execute(f"drop table {table}")
        await conn.close()
    return seconds
