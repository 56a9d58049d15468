"""What each event does to the read models, as data: the pure half of every projection.

`changes(event)` says which rows an event writes (a whole new row, some columns of an
existing row, or a deletion, perhaps only of a row that still has given values), with
values taken from the event alone: times from
`occurred_at`, versions from `aggregate_version`, never a clock. The live projector turns
these into SQL, replay applies them in memory and COPYs the result, as-of applies them up
to a moment. `coalesce` folds a batch's changes into at most one change per row, which is
what lets a writer apply a batch in a handful of statements in any order.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Literal, NamedTuple

import msgspec

from events import event_types as ev
from events.envelope import EventEnvelope
from events.sids import derive_sid
from services.domain import effects
from services.projection.tables import (
    ACCOUNTS,
    ESIM_PROFILES,
    EVENT_HISTORY,
    FLEETS,
    IP_ADDRESSES,
    IP_COMMANDS,
    NETWORKS,
    PROFILE_NETWORKS,
    PROFILES,
    SETTINGS_UPDATES,
    SIM_CARDS,
    SIM_IP_ADDRESSES,
    SIMS,
    SMS_COMMANDS,
    Table,
)

Kind = Literal["upsert", "update", "delete"]


class LogPosition(NamedTuple):
    """Where an event sits in the events topic."""

    partition: int
    offset: int


class Change(msgspec.Struct, gc=False):
    table: Table
    key: tuple
    kind: Kind
    # upsert: every column; update: the changed ones; delete: {} or the values the row must
    # still have to be deleted (a Sim that moved leaves its old account's rows alone)
    values: dict[str, Any]


def _stamp(e: EventEnvelope) -> dict[str, Any]:
    return {"version": e.aggregate_version, "date_updated": e.occurred_at}


def _created(table: Table, e: EventEnvelope, **values: Any) -> Change:
    values.update(
        sid=e.aggregate_id,
        version=e.aggregate_version,
        date_created=e.occurred_at,
        date_updated=e.occurred_at,
    )
    if "account_sid" in table.columns:
        values["account_sid"] = e.account_sid
    return Change(table, (e.aggregate_id,), "upsert", values)


def _updated(table: Table, e: EventEnvelope, **values: Any) -> Change:
    return Change(table, (e.aggregate_id,), "update", {**values, **_stamp(e)})


def _profile_network(e: EventEnvelope, network_sid: str) -> Change:
    return Change(
        PROFILE_NETWORKS,
        (e.aggregate_id, network_sid),
        "upsert",
        {
            "network_access_profile_sid": e.aggregate_id,
            "network_sid": network_sid,
            "account_sid": e.account_sid,
            "date_created": e.occurred_at,
        },
    )


# --- rows an event creates or changes (services/domain/effects.py says which fields) -----------

TABLE_OF = {
    "Account": ACCOUNTS,
    "NetworkAccessProfile": PROFILES,
    "Fleet": FLEETS,
    "Sim": SIMS,
    "SmsCommand": SMS_COMMANDS,
    "IpCommand": IP_COMMANDS,
    "SettingsUpdate": SETTINGS_UPDATES,
    "EsimProfile": ESIM_PROFILES,
}
# The one field whose column is named otherwise: a Sim's first registration is its row's
# date_created, wherever it moved since.
_COLUMN_OF = {"registered_at": "date_created"}


def _columns(table: Table, fields: dict[str, Any]) -> dict[str, Any]:
    """The fields a row of `table` holds, under their column names."""
    values = {_COLUMN_OF.get(name, name): value for name, value in fields.items()}
    return {name: value for name, value in values.items() if name in table.columns}


def _create(e: EventEnvelope) -> list[Change]:
    table = TABLE_OF[e.aggregate_type]
    fields = effects.created(e)
    row = _created(table, e)
    # An upsert writes every column: those the event does not give start empty (date_closed).
    row.values = {**dict.fromkeys(table.columns), **row.values, **_columns(table, fields)}
    if table is not PROFILES:
        return [row]
    return [row, *(_profile_network(e, n) for n in fields["network_sids"])]


def _set(e: EventEnvelope) -> list[Change]:
    table = TABLE_OF[e.aggregate_type]
    return [_updated(table, e, **_columns(table, effects.changed(e)))]


# --- what no field list says -------------------------------------------------------------------


def _network_provisioned(e: EventEnvelope) -> list[Change]:
    p = e.payload
    identifiers = [{"mcc": i.mcc, "mnc": i.mnc} for i in p.identifiers]
    return [
        _created(
            NETWORKS,
            e,
            friendly_name=p.friendly_name,
            iso_country=p.iso_country,
            identifiers=identifiers,
        )
    ]


def _sim_card_provisioned(e: EventEnvelope) -> list[Change]:
    p = e.payload
    values = {
        "iccid": p.iccid,
        "registration_code_hash": p.registration_code_hash,
        "version": e.aggregate_version,
        "date_created": e.occurred_at,
    }
    return [Change(SIM_CARDS, (p.iccid,), "upsert", values)]


def _network_added(e: EventEnvelope) -> list[Change]:
    return [_updated(PROFILES, e), _profile_network(e, e.payload.network_sid)]


def _network_removed(e: EventEnvelope) -> list[Change]:
    key = (e.aggregate_id, e.payload.network_sid)
    return [_updated(PROFILES, e), Change(PROFILE_NETWORKS, key, "delete", {})]


def _sim_moved_out(e: EventEnvelope) -> list[Change]:
    # Only the row still in this account: the new account's may have been written first.
    guard = {"account_sid": e.account_sid}
    return [Change(SIMS, (e.payload.sim_sid,), "delete", guard)]


# Not a SID Twilio shows: the keyset of the Sim's IpAddresses pages (a token names a SID).
IP_ADDRESS_KEY = "IP"


def _sim_version(e: EventEnvelope) -> Change:
    """The Sim's row takes the event's version, but not its date_updated: an address is not a
    field of the Sim's (Twilio's Sim has none), so the Sim as shown has not changed."""
    return Change(SIMS, (e.aggregate_id,), "update", {"version": e.aggregate_version})


def _sim_ip_address_assigned(e: EventEnvelope) -> list[Change]:
    p = e.payload
    values = {
        "sim_sid": e.aggregate_id,
        "ip_address": p.ip_address,
        "sid": derive_sid(IP_ADDRESS_KEY, p.ip_address, e.aggregate_id),
        "account_sid": e.account_sid,
        "ip_address_version": p.ip_address_version,
        "pool": p.pool,
        "date_created": e.occurred_at,
    }
    row = Change(SIM_IP_ADDRESSES, (e.aggregate_id, p.ip_address), "upsert", values)
    return [_sim_version(e), row]


def _sim_ip_address_released(e: EventEnvelope) -> list[Change]:
    row = Change(SIM_IP_ADDRESSES, (e.aggregate_id, e.payload.ip_address), "delete", {})
    return [_sim_version(e), row]


def _ip_address(e: EventEnvelope) -> list[Change]:
    """The registry's row of the address: its holder (none once released)."""
    p = e.payload
    held = e.type == "IpAddressAllocated"
    values = {
        "address": e.aggregate_id,
        "pool": p.pool if held else None,
        "account_sid": e.account_sid if held else None,
        "sim_sid": p.sim_sid if held else None,
        "request_id": p.request_id if held else None,
        "version": e.aggregate_version,
        "date_updated": e.occurred_at,
    }
    return [Change(IP_ADDRESSES, (e.aggregate_id,), "upsert", values)]


def _history_only(e: EventEnvelope) -> list[Change]:
    """Facts with no read model of their own (the card registry's, pending steps)."""
    return []


PROJECTIONS: dict[type, Callable[[EventEnvelope], list[Change]]] = {
    **dict.fromkeys(effects.CREATES, _create),
    **dict.fromkeys(effects.SETS, _set),
    ev.AccountClosed: lambda e: [_updated(ACCOUNTS, e, date_closed=e.occurred_at)],
    ev.SubaccountAdded: _history_only,
    ev.NetworkProvisioned: _network_provisioned,
    ev.SimCardProvisioned: _sim_card_provisioned,
    ev.SimCardReserved: _history_only,
    ev.SimCardReservationReleased: _history_only,
    ev.SimCardAssigned: _history_only,
    ev.SimCardTransferred: _history_only,
    ev.NetworkAddedToProfile: _network_added,
    ev.NetworkRemovedFromProfile: _network_removed,
    ev.SimRegistrationRequested: _history_only,
    ev.SimRegistrationRefused: _history_only,
    ev.SimMovedOut: _sim_moved_out,
    # The Sim's address is a row of its own; the Sim's row takes only the event's version.
    ev.SimIpAddressAssigned: _sim_ip_address_assigned,
    ev.SimIpAddressReleased: _sim_ip_address_released,
    ev.SimIpAddressUnavailable: lambda e: [_sim_version(e)],
    ev.IpAddressAllocated: _ip_address,
    ev.IpAddressReleased: _ip_address,
}


def history_change(e: EventEnvelope, position: LogPosition | None) -> Change:
    """The event's own row in the event history (insert-only: one row per event_id)."""
    values = {
        "event_id": e.event_id,
        "account_sid": e.account_sid,
        "aggregate_type": e.aggregate_type,
        "aggregate_id": e.aggregate_id,
        "aggregate_version": e.aggregate_version,
        "type": e.type,
        "schema_version": e.schema_version,
        "occurred_at": e.occurred_at,
        "actor": e.actor,
        "command_id": e.command_id,
        "correlation_id": e.correlation_id,
        "payload": e.payload,  # a Struct: the jsonb codec encodes it, tag "type" included
        "log_partition": position.partition if position else None,
        "log_offset": position.offset if position else None,
    }
    return Change(EVENT_HISTORY, (e.event_id,), "upsert", values)


def changes(event: EventEnvelope, position: LogPosition | None = None) -> list[Change]:
    """The row changes `event` makes: its read-model rows, then its event-history row, which
    records `position` (the projector and replay always give it). Every event type has an
    entry (a test checks)."""
    return [*PROJECTIONS[type(event.payload)](event), history_change(event, position)]


def coalesce(all_changes: Iterable[Change]) -> list[Change]:
    """At most one change per row (but for the case below), equivalent to applying
    `all_changes` in order with the writer's rules: a change of an older version than the
    row's is dropped; an update after an upsert folds into the upsert, updates merge; a delete
    wins until a later upsert. A guarded delete after an update of the same row is kept beside
    it, first: its guard can only be judged against the row in the database, and a delete
    before the update ends the same (writer.py applies deletes first)."""
    merged: dict[tuple[str, tuple], Change] = {}
    guarded: list[Change] = []
    for change in all_changes:
        slot = (change.table.name, change.key)
        before = merged.get(slot)
        copy = Change(change.table, change.key, change.kind, dict(change.values))
        if before is None:
            merged[slot] = copy
        elif change.kind == "delete" and change.values:  # a guarded delete
            if before.kind == "upsert" and _matches(before.values, change.values):
                merged[slot] = copy
            elif before.kind == "update":
                guarded.append(copy)
        elif before.kind != "delete" and _older(before.values, change.values):
            continue  # the row already has a newer version
        elif change.kind != "update" or before.kind == "delete":
            merged[slot] = copy
        else:  # an update on top of an upsert or an update: newer values win
            before.values.update(change.values)
    return [*guarded, *merged.values()]


def _matches(row: dict[str, Any], guard: dict[str, Any]) -> bool:
    return all(row.get(column) == value for column, value in guard.items())


def _older(row: dict[str, Any] | None, values: dict[str, Any]) -> bool:
    """True if `row` holds a version at least as new as the one `values` would write: a row is
    only ever written by a newer version of its aggregate (see services/projection/writer.py)."""
    return row is not None and "version" in values and row.get("version", -1) >= values["version"]


def apply_in_memory(tables: dict[str, dict[tuple, dict[str, Any]]], change: Change) -> None:
    """Applies one change to rows held as {table name: {key: row}} (replay, as-of), with the
    writer's rules: newer versions only, guarded deletes."""
    rows = tables.setdefault(change.table.name, {})
    row = rows.get(change.key)
    if change.kind == "upsert":
        if not _older(row, change.values):
            rows[change.key] = dict(change.values)
    elif change.kind == "update":
        if row is not None and not _older(row, change.values):
            row.update(change.values)
    elif row is not None and _matches(row, change.values):
        del rows[change.key]
