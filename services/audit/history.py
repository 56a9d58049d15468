"""Every event of one resource, from the event-history read model: the queries behind
`fleetstate history` and, later, `GET /v1/{Fleets,Sims,NetworkAccessProfiles}/{Sid}/Events`.

Every query is scoped to one account: another account's resource is not found, like a missing
one. A resource is named by its SID (or a SIM card by its ICCID) or by a unique name; a name
resolves to the resource carrying it now, or, when none does, to the one that carried it last
(names are reused after a rename, and an auditor asking about "fleet-a" means the last one).
Pages are keyset pages on aggregate_version: page N costs what page 1 costs, plus the fold of
the versions before it (the old values of a page's first event come from that fold).

`conn` is an asyncpg connection or pool: anything with fetch().
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec

from events.codec import upcast
from events.envelope import EventEnvelope
from events.event_types import SCHEMA_VERSIONS, Event
from services.audit.field_changes import HistoryEntry, history_entries
from services.audit.fold import Fold
from services.audit.resources import Kind, names_itself, resource_view
from services.projection.changes import LogPosition

MAX_PAGE_SIZE = 1000

_COLUMNS = (
    "event_id, account_sid, aggregate_type, aggregate_id, aggregate_version, type, "
    "schema_version, occurred_at, actor, command_id, correlation_id, payload::text as payload, "
    "log_partition, log_offset"
)
_payload_decoder = msgspec.json.Decoder(Event)
# Must be the expression of the index event_history_by_name (migrations/0004).
_NAME = "coalesce(payload ->> 'to_unique_name', payload ->> 'unique_name')"


class HistoryPage(msgspec.Struct, frozen=True, kw_only=True):
    aggregate_type: str
    aggregate_id: str
    entries: list[HistoryEntry]
    next_after_version: int | None  # the keyset of the next page; None on the last page


def event_of_row(row: Any) -> tuple[EventEnvelope, LogPosition]:
    """An event-history row back into the event it records (upcast if stored older)."""
    type_name, version = row["type"], row["schema_version"]
    if version == SCHEMA_VERSIONS.get(type_name):
        payload = _payload_decoder.decode(row["payload"])
    else:
        document = upcast(type_name, version, msgspec.json.decode(row["payload"]))
        payload = msgspec.convert({**document, "type": type_name}, Event)
    event = EventEnvelope(
        event_id=row["event_id"],
        type=type_name,
        schema_version=SCHEMA_VERSIONS[type_name],
        account_sid=row["account_sid"],
        aggregate_type=row["aggregate_type"],
        aggregate_id=row["aggregate_id"],
        aggregate_version=row["aggregate_version"],
        occurred_at=row["occurred_at"],
        command_id=row["command_id"],
        correlation_id=row["correlation_id"],
        actor=row["actor"],
        payload=payload,
    )
    return event, LogPosition(row["log_partition"], row["log_offset"])


async def aggregate_events(
    conn, account_sid: str, aggregate_id: str
) -> list[tuple[EventEnvelope, LogPosition]]:
    """Every recorded event of one aggregate of the account, in version order."""
    rows = await conn.fetch(
        f"select {_COLUMNS} from event_history where account_sid = $1 and aggregate_id = $2 "
        "order by aggregate_version",
        account_sid,
        aggregate_id,
    )
    return [event_of_row(row) for row in rows]


async def resolve(conn, account_sid: str, kind: Kind, ref: str, at: datetime | None = None):
    """The aggregate id `ref` names in the account: a SID of this kind that has events, or
    the resource carrying the unique name `ref` (at moment `at`, or now). None: not found."""
    if names_itself(kind, ref):
        found = await conn.fetch(
            "select 1 from event_history where account_sid = $1 and aggregate_id = $2 "
            "and aggregate_type = $3 limit 1",
            account_sid,
            ref,
            kind.aggregate_type,
        )
        return ref if found else None
    if not kind.named:
        return None
    candidates = await conn.fetch(
        f"select aggregate_id, max(occurred_at) as named_at from event_history "
        f"where account_sid = $1 and aggregate_type = $2 and {_NAME} = $3 "
        "group by aggregate_id order by named_at desc",
        account_sid,
        kind.aggregate_type,
        ref,
    )
    for candidate in candidates:
        aggregate_id = candidate["aggregate_id"]
        events = await aggregate_events(conn, account_sid, aggregate_id)
        view = resource_view(Fold(until=at).apply_all(events).tables, kind, aggregate_id)
        if view is not None and view.get("unique_name") == ref:
            return aggregate_id
    if at is None and candidates:
        return candidates[0]["aggregate_id"]  # nobody carries it now: its last carrier
    return None


async def history(conn, account_sid: str, kind: Kind, ref: str) -> list[HistoryEntry] | None:
    """Every event of the resource, each with the fields it changed; None: not found."""
    aggregate_id = await resolve(conn, account_sid, kind, ref)
    if aggregate_id is None:
        return None
    return history_entries(await aggregate_events(conn, account_sid, aggregate_id))


async def history_page(
    conn,
    account_sid: str,
    kind: Kind,
    ref: str,
    page_size: int = 50,
    after_version: int = 0,
) -> HistoryPage | None:
    """One keyset page of the resource's events: those after `after_version`, at most
    `page_size` (1..MAX_PAGE_SIZE). None: no such resource in this account."""
    if not 1 <= page_size <= MAX_PAGE_SIZE:
        raise ValueError(f"page_size must be 1..{MAX_PAGE_SIZE}")
    aggregate_id = await resolve(conn, account_sid, kind, ref)
    if aggregate_id is None:
        return None
    # The versions before the page (folded for the old values), then one more than a page.
    rows = await conn.fetch(
        f"(select {_COLUMNS} from event_history where account_sid = $1 and aggregate_id = $2 "
        "and aggregate_version <= $3) "
        f"union all (select {_COLUMNS} from event_history where account_sid = $1 "
        "and aggregate_id = $2 and aggregate_version > $3 order by aggregate_version limit $4) "
        "order by aggregate_version",
        account_sid,
        aggregate_id,
        after_version,
        page_size + 1,
    )
    entries = history_entries(map(event_of_row, rows))
    entries = [e for e in entries if e.aggregate_version > after_version]
    more = len(entries) > page_size
    entries = entries[:page_size]
    return HistoryPage(
        aggregate_type=kind.aggregate_type,
        aggregate_id=aggregate_id,
        entries=entries,
        next_after_version=entries[-1].aggregate_version if more else None,
    )
