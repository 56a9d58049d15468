"""What every benchmark shares: topics of its own, a client of them, and percentiles."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable

from events.client import CommandClient
from services.config import Settings, with_topic_prefix
from services.topics import delete_topics_of

_ISSUED: list[tuple[str, str]] = []  # (bootstrap, prefix) of every fresh_settings


def fresh_settings(base: Settings) -> Settings:
    """`base` with topics no other run uses (deleted by `delete_fresh_topics`)."""
    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    _ISSUED.append((base.kafka_bootstrap, prefix + "."))
    return with_topic_prefix(base, prefix)


async def delete_fresh_topics() -> None:
    """Deletes the topics of every fresh_settings of this process: a benchmark's end, so the
    dev broker does not gather hundreds of topics from run to run."""
    while _ISSUED:
        await delete_topics_of(*_ISSUED.pop())


def command_client(settings: Settings, actor: str = "bench") -> CommandClient:
    """A client of every commands topic of `settings`, sending as `actor`."""
    return CommandClient(
        settings.kafka_bootstrap,
        commands_topic=settings.commands_topic,
        operator_topic=settings.operator_topic,
        internal_topic=settings.internal_topic,
        outcomes_topic=settings.outcomes_topic,
        actor=actor,
    )


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


async def deleting_fresh_topics(work: Awaitable[None]) -> None:
    """Runs a benchmark's main, then deletes the topics it made, whatever happened."""
    try:
        await work
    finally:
        await delete_fresh_topics()
