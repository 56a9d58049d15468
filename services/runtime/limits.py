"""What the broker lets a worker write: each topic's largest record, read at start.

A record over a topic's `max.message.bytes` is refused with MessageSizeTooLarge, which would
fail its whole transaction for ever; the deciders are given these limits so that they refuse
such a command instead.
"""

from __future__ import annotations

from typing import NamedTuple

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from events.kafka_security import kafka_options

# What a record costs beyond its value in a batch of its own: the batch and record headers,
# the key, and our headers (a few dozen bytes each).
RECORD_OVERHEAD = 1024


async def max_message_bytes(bootstrap: str, topics: list[str]) -> dict[str, int]:
    """`max.message.bytes` of each topic (the topic's own setting or the broker's default)."""
    admin = AIOKafkaAdminClient(**kafka_options(bootstrap))
    await admin.start()
    try:
        resources = [ConfigResource(ConfigResourceType.TOPIC, topic, None) for topic in topics]
        limits = {}
        for response in await admin.describe_configs(resources):
            for _code, _message, _kind, name, entries in response.resources:
                for entry in entries:
                    if entry[0] == "max.message.bytes":
                        limits[name] = int(entry[1])
        missing = set(topics) - set(limits)
        if missing:
            raise RuntimeError(f"no max.message.bytes for {sorted(missing)}")
        return limits
    finally:
        await admin.close()


async def largest_value(bootstrap: str, topics: list[str]) -> int:
    """The largest value a record may have in every one of `topics`."""
    return min((await max_message_bytes(bootstrap, topics)).values()) - RECORD_OVERHEAD


class ValueLimits(NamedTuple):
    output: int  # the largest value the worker may write to its output and changelog
    dead_letter: int  # the largest value its dead-letter topic takes


async def value_limits(bootstrap: str, outputs: list[str], dead_letters: str) -> ValueLimits:
    limits = await max_message_bytes(bootstrap, [*outputs, dead_letters])
    return ValueLimits(
        output=min(limits[t] for t in outputs) - RECORD_OVERHEAD,
        dead_letter=limits[dead_letters] - RECORD_OVERHEAD,
    )
