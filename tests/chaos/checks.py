"""After the load stops and the system settles: do the log and the read models keep every
promise made to callers?"""

from __future__ import annotations

from collections import Counter

import asyncpg
import msgspec

from events.codec import decode_event
from services.config import Settings
from services.log_reader import read_all
from services.projection.snapshot import snapshot
from tests.chaos.ledger import Ledger


class LogFindings(msgspec.Struct):
    events: int
    lost: list[str]  # acknowledged commands whose events are not in the log
    duplicated_events: list[str]  # event ids appended more than once
    version_gaps: list[str]  # aggregates whose versions are not 1..n


async def check_log(settings: Settings, ledger: Ledger) -> LogFindings:
    records = await read_all(settings.kafka_bootstrap, settings.events_topic)
    events = [decode_event(r.value) for rs in records.values() for r in rs]
    counts = Counter(e.event_id for e in events)
    in_log = set(counts)
    lost = [
        command_id
        for command_id, event_ids in ledger.accepted.items()
        if any(event_id not in in_log for event_id in event_ids)
    ]
    versions: dict[str, list[int]] = {}
    for event in events:
        versions.setdefault(event.aggregate_id, []).append(event.aggregate_version)
    gaps = [a for a, v in versions.items() if sorted(v) != list(range(1, len(v) + 1))]
    return LogFindings(
        events=len(events),
        lost=lost,
        duplicated_events=[e for e, n in counts.items() if n > 1],
        version_gaps=gaps,
    )


async def mismatched_rows(database_url: str, live: str, rebuilt: str) -> dict[str, int]:
    """Rows that differ between two schemas, per table (missing on either side counts)."""
    conn = await asyncpg.connect(database_url)
    try:
        a, b = await snapshot(conn, live), await snapshot(conn, rebuilt)
    finally:
        await conn.close()
    return {
        table: len(set(a[table]) ^ set(b[table])) for table in a if set(a[table]) != set(b[table])
    }
