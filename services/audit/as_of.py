"""A resource as it was at a moment: its recorded events up to then, folded through the
projection's changes() (services.audit.fold says what "up to then" means). Serves
`fleetstate as-of` and, later, the API's `AsOf=` parameter on fetch endpoints."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from events.envelope import EventEnvelope
from services.audit.fold import Fold
from services.audit.history import aggregate_events, resolve
from services.audit.resources import Kind, resource_view
from services.projection.changes import LogPosition


def view_as_of(
    events: Iterable[tuple[EventEnvelope, LogPosition | None]],
    kind: Kind,
    aggregate_id: str,
    at: datetime,
) -> dict[str, Any] | None:
    """The resource's view after folding its events up to `at`; None: it did not exist yet."""
    return resource_view(Fold(until=at).apply_all(events).tables, kind, aggregate_id)


async def resource_as_of(
    conn, account_sid: str, kind: Kind, ref: str, at: datetime
) -> dict[str, Any] | None:
    """The resource `ref` (SID, or the unique name it carried at `at`) of the account as it
    was at `at`: the columns of its read-model row (plus `networks` for a profile). None
    when the account had no such resource then, which the API answers 404 20404."""
    if at.tzinfo is None:
        raise ValueError("a moment needs a time zone")
    aggregate_id = await resolve(conn, account_sid, kind, ref, at=at)
    if aggregate_id is None:
        return None
    events = await aggregate_events(conn, account_sid, aggregate_id)
    return view_as_of(events, kind, aggregate_id, at)
