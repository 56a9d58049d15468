"""What every benchmark shares: topics of its own, and percentiles."""

from __future__ import annotations

import uuid

from services.config import Settings, with_topic_prefix


def fresh_settings(base: Settings) -> Settings:
    """`base` with topics no other run uses."""
    return with_topic_prefix(base, f"bench-{uuid.uuid4().hex[:8]}")


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]
