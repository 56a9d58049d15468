"""Helpers for the tracing tests: trace contexts of our own, and the records of a topic."""

from __future__ import annotations

import secrets

from aiokafka import TopicPartition
from aiokafka.structs import ConsumerRecord

from services.log_reader import log_consumer, partition_ids, read_to_end
from tests.tracing.receiver import ReceivedSpan


def new_trace() -> tuple[str, str, str]:
    """(trace id, the caller's span id, its W3C traceparent, sampled)."""
    trace_id, span_id = secrets.token_hex(16), secrets.token_hex(8)
    return trace_id, span_id, f"00-{trace_id}-{span_id}-01"


def traceparent_of(record: ConsumerRecord) -> str | None:
    values = [value.decode() for name, value in record.headers or () if name == "traceparent"]
    assert len(values) <= 1, record.headers
    return values[0] if values else None


async def records_of(bootstrap: str, topic: str) -> list[ConsumerRecord]:
    """Every committed record of `topic`, as it is now."""
    consumer = log_consumer(bootstrap)
    await consumer.start()
    try:
        starts = {TopicPartition(topic, p): 0 for p in await partition_ids(bootstrap, topic)}
        found = []
        async for _, records in read_to_end(consumer, starts):
            found += records
        return found
    finally:
        await consumer.stop()


def named(spans: list[ReceivedSpan], service: str, name: str) -> list[ReceivedSpan]:
    return [s for s in spans if s.service == service and s.name == name]


def one(spans: list[ReceivedSpan], service: str, name: str) -> ReceivedSpan:
    [span] = named(spans, service, name)
    return span
