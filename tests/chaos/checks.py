"""After the load stops and the system settles: does the log keep every promise made to
callers, and do the usage totals follow from the raw reports? (Read models against a replay
and the tamper chain are checked by the audit tools themselves: services/audit.)"""

from __future__ import annotations

import asyncio
from collections import Counter, defaultdict
from datetime import UTC, datetime

import asyncpg
import msgspec

from events.codec import decode_event
from events.usage import DataSessionReport
from services.config import Settings
from services.domain.periods import BillingPeriod
from services.log_reader import read_all
from tests.chaos.faults import Window
from tests.chaos.ledger import Ledger
from tests.usage.pipeline import totals_from_log, usage_log


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
    # A Fleet the API answered 200/201 for was created by exactly one event.
    created = Counter(e.command_id for e in events if e.type == "FleetCreated")
    lost += [
        f"api:{key}" for command_id, key in ledger.api_created.items() if not created[command_id]
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


async def card_owner_errors(settings: Settings) -> list[str]:
    """Every SIM card with one owner at most, and that owner is the one account holding a Sim
    of it: the card's log (assigned, transferred) and the accounts' logs (registered, moved in,
    moved out) agree."""
    records = await read_all(settings.kafka_bootstrap, settings.events_topic)
    events = [decode_event(r.value) for rs in records.values() for r in rs]
    owners: dict[str, str] = {}
    errors = []
    for e in events:
        if e.type == "SimCardAssigned":
            if e.aggregate_id in owners:
                errors.append(f"{e.aggregate_id} assigned twice")
            owners[e.aggregate_id] = e.account_sid
        elif e.type == "SimCardTransferred":
            if owners.get(e.aggregate_id) != e.payload.from_account_sid:
                errors.append(f"{e.aggregate_id} transferred by an account not its owner")
            owners[e.aggregate_id] = e.payload.to_account_sid
    holders: dict[str, set[str]] = defaultdict(set)  # iccid -> accounts with a Sim of it
    sims: dict[str, str] = {}  # sim sid -> iccid
    for e in events:
        if e.type in ("SimRegistered", "SimMovedIn"):
            sims[e.aggregate_id] = e.payload.iccid
            holders[e.payload.iccid].add(e.account_sid)
        elif e.type == "SimMovedOut":
            holders[sims[e.payload.sim_sid]].discard(e.account_sid)
    for iccid, accounts in holders.items():
        if accounts != {owners.get(iccid)}:
            errors.append(f"{iccid}: held by {sorted(accounts)}, owned by {owners.get(iccid)}")
    return errors


async def ip_address_errors(settings: Settings) -> list[str]:
    """No address held by two active Sims at once, from the log (see ip_address_errors_in)."""
    records = await read_all(settings.kafka_bootstrap, settings.events_topic)
    return ip_address_errors_in([decode_event(r.value) for rs in records.values() for r in rs])


def ip_address_errors_in(events) -> list[str]:
    """The address registry's log (each address in the order of its one partition) never
    gives an address to a Sim while another holds it; every address a Sim took was allocated
    to that Sim for that activation; a Sim holds one address at a time; and an allocation the
    registry ended (released, or moved to the Sim's next activation) was given back by the
    Sim if the Sim had taken it. `events` in log order within each partition."""
    errors: list[str] = []
    held: dict[str, tuple[str, str, str]] = {}  # address -> (account, sim, request)
    allocated: set[tuple] = set()  # (address, account, sim, request) ever allocated
    ended: set[tuple] = set()  # of those, the allocations the registry ended
    for e in events:
        if e.type == "IpAddressAllocated":
            claim = (e.account_sid, e.payload.sim_sid, e.payload.request_id)
            before = held.get(e.aggregate_id)
            if before is not None:
                if before[:2] != claim[:2]:
                    errors.append(
                        f"{e.aggregate_id} allocated to {claim[1]} while {before[1]} held it"
                    )
                ended.add((e.aggregate_id, *before))
            held[e.aggregate_id] = claim
            allocated.add((e.aggregate_id, *claim))
        elif e.type == "IpAddressReleased":
            claim = (e.account_sid, e.payload.sim_sid, e.payload.request_id)
            if held.get(e.aggregate_id) != claim:
                errors.append(f"{e.aggregate_id} released by {claim[1]}, not its holder")
            held.pop(e.aggregate_id, None)
            ended.add((e.aggregate_id, *claim))
    taken: dict[str, str] = {}  # sim -> the address it holds now
    given_back: set[tuple] = set()
    for e in events:
        if e.type == "SimIpAddressAssigned":
            key = (e.payload.ip_address, e.account_sid, e.aggregate_id, e.payload.request_id)
            if key not in allocated:
                errors.append(f"{e.aggregate_id} took {key[0]}, never allocated to it")
            if e.aggregate_id in taken:
                errors.append(f"{e.aggregate_id} took {key[0]} holding {taken[e.aggregate_id]}")
            taken[e.aggregate_id] = key[0]
        elif e.type == "SimIpAddressReleased":
            taken.pop(e.aggregate_id, None)
            key = (e.payload.ip_address, e.account_sid, e.aggregate_id, e.payload.request_id)
            given_back.add(key)
    assigned = {
        (e.payload.ip_address, e.account_sid, e.aggregate_id, e.payload.request_id)
        for e in events
        if e.type == "SimIpAddressAssigned"
    }
    for key in sorted(ended & assigned - given_back):
        errors.append(f"{key[0]} freed by the registry while {key[2]} still held it")
    return errors


def recomputed_usage(reports: list[DataSessionReport], period: BillingPeriod) -> dict:
    """(sim, period start) -> bytes from the raw reports: each session of a Sim once."""
    seen: set[tuple] = set()
    totals: dict[tuple[str, datetime], int] = defaultdict(int)
    for r in reports:
        start = datetime.fromtimestamp(period.start_of(r.end_time.timestamp()), UTC)
        if (r.sim, start, r.session_id) not in seen:
            seen.add((r.sim, start, r.session_id))
            totals[(r.sim, start)] += r.bytes_up + r.bytes_down
    return dict(totals)


async def usage_mismatches(
    database_url: str, reports: list[DataSessionReport], period: BillingPeriod, timeout: float
) -> list[tuple]:
    """(sim, period, expected, projected) wherever the usage read model differs from the
    recomputation, once it stopped changing or `timeout` passed."""
    expected = recomputed_usage(reports, period)
    conn = await asyncpg.connect(database_url)
    try:
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            rows = await conn.fetch(
                "select sim_sid, period_start, data_upload + data_download as total from sim_usage"
            )
            projected = {(r["sim_sid"], r["period_start"]): r["total"] for r in rows}
            wrong = [
                (sim, start, total, projected.get((sim, start)))
                for (sim, start), total in expected.items()
                if projected.get((sim, start)) != total
            ]
            wrong += [(*k, None, v) for k, v in projected.items() if k not in expected]
            if not wrong or asyncio.get_running_loop().time() > deadline:
                return wrong
            await asyncio.sleep(0.5)
    finally:
        await conn.close()


async def usage_diagnosis(settings: Settings, wrong: list[tuple]) -> list[str]:
    """Where the bytes of mismatched Sims went: what the usage log counted for them (the
    processor's side) and why reports were dead-lettered, so a failed run says which stage
    lost or added usage."""
    logged = {
        (sim, datetime.fromtimestamp(start, UTC)): total
        for (sim, start), total in totals_from_log(await usage_log(settings)).items()
    }
    reasons: Counter = Counter()
    for records in (await read_all(settings.kafka_bootstrap, settings.usage_dlq_topic)).values():
        for record in records:
            reasons[dict(record.headers).get("reason", b"?").decode()] += 1
    lines = [
        f"{sim} {start:%Y-%m-%d}: reports {expected}, usage log {logged.get((sim, start))}, "
        f"read model {projected}"
        for sim, start, expected, projected in wrong[:5]
    ]
    return lines + [f"dead-lettered: {dict(reasons)}"]


# How long after a fault ends a 503 is still put down to it (the services reconnecting).
RECOVERY_SECONDS = 30.0


def unavailable_seconds(
    windows: list[Window], answered_503: list[float], retry_seconds: float = 1.0
) -> dict[str, list[float]]:
    """For each fault kind, how long the API answered 503 during each fault of that kind (its
    first 503 to its last, plus the caller's retry interval), 0.0 for a fault it answered
    through; 503s during no fault nor its recovery are summed under "no fault"."""
    ordered = sorted(windows, key=lambda w: w.began)
    times: dict[int, list[float]] = {i: [] for i in range(len(ordered))}
    outside: list[float] = []
    for at in sorted(answered_503):
        began = [i for i, w in enumerate(ordered) if w.began <= at]
        if began and at <= ordered[began[-1]].ended + RECOVERY_SECONDS:
            times[began[-1]].append(at)
        else:
            outside.append(at)
    seconds: dict[str, list[float]] = {}
    for i, window in enumerate(ordered):
        span = times[i][-1] - times[i][0] + retry_seconds if times[i] else 0.0
        seconds.setdefault(window.kind, []).append(round(span, 1))
    if outside:
        seconds["no fault"] = [round(len(outside) * retry_seconds, 1)]
    return seconds
