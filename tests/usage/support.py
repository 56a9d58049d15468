"""Builders for usage tests: reports, a directory folded from a domain World, a plain
recomputation of totals to compare the processor's with."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from itertools import count

from events.usage import DataSessionReport
from services.domain.periods import BillingPeriod
from services.usage.directory import Directory

NETWORK = "HW" + "1" * 32
NOVEMBER = datetime(2026, 11, 10, 12, 30, tzinfo=UTC)
MONTH = BillingPeriod.parse("month")
_sessions = count(1)


def report(
    account_sid: str,
    sim: str,
    bytes_up: int = 0,
    bytes_down: int = 0,
    end: datetime = NOVEMBER,
    session_id: str | None = None,
    network_sid: str = NETWORK,
) -> DataSessionReport:
    return DataSessionReport(
        session_id=session_id or f"session-{next(_sessions)}",
        account_sid=account_sid,
        sim=sim,
        network_sid=network_sid,
        bytes_up=bytes_up,
        bytes_down=bytes_down,
        start_time=end - timedelta(minutes=5),
        end_time=end,
    )


def directory_of(events) -> Directory:
    directory = Directory()
    for event in events:
        directory.apply(event)
    return directory


def recomputed_totals(
    reports: list[DataSessionReport], rule: BillingPeriod = MONTH, sim_of=lambda r: r.sim
) -> dict[tuple[str, int], int]:
    """(sim, period start) -> bytes: each session id of a Sim counted once per period."""
    seen: set[tuple[str, int, str]] = set()
    totals: dict[tuple[str, int], int] = defaultdict(int)
    for r in reports:
        key = (sim_of(r), rule.start_of(r.end_time.timestamp()))
        if (*key, r.session_id) not in seen:
            seen.add((*key, r.session_id))
            totals[key] += r.bytes_up + r.bytes_down
    return dict(totals)
