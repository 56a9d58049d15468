"""What every benchmark shares: topics of its own, a client of them, and percentiles."""

from __future__ import annotations

import uuid

from events.client import CommandClient
from services.config import Settings, with_topic_prefix


def fresh_settings(base: Settings) -> Settings:
    """`base` with topics no other run uses."""
    return with_topic_prefix(base, f"bench-{uuid.uuid4().hex[:8]}")


def command_client(settings: Settings) -> CommandClient:
    """A client of every commands topic of `settings`, as the benchmark's sender."""
    return CommandClient(
        settings.kafka_bootstrap,
        commands_topic=settings.commands_topic,
        operator_topic=settings.operator_topic,
        internal_topic=settings.internal_topic,
        outcomes_topic=settings.outcomes_topic,
        actor="bench",
    )


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]
