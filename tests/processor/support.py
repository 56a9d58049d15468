"""Reading what the processor wrote, and the exactly-once checks, for the processor tests."""

from __future__ import annotations

import asyncio
from collections import Counter

from events.codec import decode_event, decode_outcome
from services.config import Settings
from services.log_reader import read_all


async def committed_log(settings: Settings):
    """(events, outcomes) as a read_committed reader sees them."""
    event_records, outcome_records = await asyncio.gather(
        read_all(settings.kafka_bootstrap, settings.events_topic),
        read_all(settings.kafka_bootstrap, settings.outcomes_topic),
    )
    events = [decode_event(r.value) for records in event_records.values() for r in records]
    outcomes = [decode_outcome(r.value) for records in outcome_records.values() for r in records]
    return events, outcomes


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
    # Every accepted outcome names exactly the events the log holds for its command.
    by_command: dict[str, set[str]] = {}
    for event in events:
        by_command.setdefault(event.command_id, set()).add(event.event_id)
    for outcome in outcomes:
        if outcome.status == "accepted":
            assert {ref.event_id for ref in outcome.events} == by_command.get(
                outcome.command_id, set()
            )
