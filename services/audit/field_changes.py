"""Which fields each event of a resource changed, old -> new (pure).

The resource is folded event by event through the projection's changes(), and each event's
changes are the fields of the resource's view that differ before and after it. So the names
are the read model's (and the API's) field names, and an event that carries no old value
(SimCallbackChanged) still shows one. A creating event shows every field as new. Version and
dates move with every event and are shown beside the changes, not among them.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

import msgspec

from events.envelope import EventEnvelope
from services.audit.fold import Fold
from services.audit.resources import BY_AGGREGATE_TYPE, resource_view
from services.projection.changes import LogPosition

NOT_NEWS = frozenset({"version", "date_created", "date_updated", "sid", "account_sid"})


class FieldChange(msgspec.Struct, frozen=True):
    field: str
    old: Any
    new: Any


class HistoryEntry(msgspec.Struct, frozen=True, kw_only=True):
    event_id: str
    aggregate_type: str
    aggregate_id: str
    aggregate_version: int
    type: str
    occurred_at: datetime
    actor: str
    command_id: str
    correlation_id: str | None
    log_partition: int | None
    log_offset: int | None
    created: bool  # the event created the resource: every field is new
    changes: list[FieldChange]
    payload: dict[str, Any]  # the event as recorded (e.g. a status change's reason)
    # The webhook this event called (services.delivery.log.Delivery), with every attempt:
    # added by the audit CLI, which reads the delivery log beside the events.
    webhook: Any = None


def field_changes(before: dict[str, Any] | None, after: dict[str, Any] | None) -> list[FieldChange]:
    """The fields whose value differs between two views of a resource, in the view's order.
    From nothing, every field is new."""
    if after is None:
        return []
    return [
        FieldChange(field, None if before is None else before.get(field), value)
        for field, value in after.items()
        if field not in NOT_NEWS and (before is None or before.get(field) != value)
    ]


def history_entries(
    events: Iterable[tuple[EventEnvelope, LogPosition | None]],
) -> list[HistoryEntry]:
    """One entry per event of ONE resource, given in version order."""
    fold = Fold()
    entries = []
    before = None
    for event, position in events:
        kind = BY_AGGREGATE_TYPE[event.aggregate_type]
        fold.apply(event, position)
        after = resource_view(fold.tables, kind, event.aggregate_id)
        entries.append(
            HistoryEntry(
                event_id=event.event_id,
                aggregate_type=event.aggregate_type,
                aggregate_id=event.aggregate_id,
                aggregate_version=event.aggregate_version,
                type=event.type,
                occurred_at=event.occurred_at,
                actor=event.actor,
                command_id=event.command_id,
                correlation_id=event.correlation_id,
                log_partition=position.partition if position else None,
                log_offset=position.offset if position else None,
                created=before is None and after is not None,
                changes=field_changes(before, after),
                payload=msgspec.to_builtins(event.payload),
            )
        )
        before = after
    return entries


def with_webhooks(entries: list[HistoryEntry], deliveries: Iterable[Any]) -> list[HistoryEntry]:
    """Each entry with the webhook its event called, if it called one (a delivery's id is its
    event's)."""
    by_event = {d.delivery_id: d for d in deliveries}
    return [msgspec.structs.replace(e, webhook=by_event.get(e.event_id)) for e in entries]
