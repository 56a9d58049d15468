"""Folds events into read-model rows in memory, through the projection's own changes(): the
rows replay COPYs, the state as-of shows and history compares are the rows the live projector
writes, by construction.

As of a moment T, each aggregate is folded up to its last event before the first one that
occurred after T. While an aggregate's times never go backwards that is exactly "every event
with occurred_at <= T"; when a sender's clock did go backwards, it still gives a state the
aggregate really had, never a mix that never existed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from events.envelope import EventEnvelope
from services.projection.changes import Change, LogPosition, apply_in_memory, changes
from services.projection.tables import EVENT_HISTORY

Tables = dict[str, dict[tuple, dict[str, Any]]]  # table name -> key -> row


class Fold:
    """Rows of every table after the events applied so far.

    `until`: events of an aggregate from its first one after this moment on are left out.
    `insert_only`: when given, event-history changes (one new row per event, never updated)
    are handed to it instead of being kept, so replay can stream them to COPY.
    """

    def __init__(
        self,
        until: datetime | None = None,
        insert_only: Callable[[Change], None] | None = None,
    ) -> None:
        self.tables: Tables = {}
        self.until = until
        self.passed: set[str] = set()  # aggregates that reached `until`
        self.applied = 0
        self.left_out = 0  # events after `until`
        self._insert_only = insert_only

    def apply(self, event: EventEnvelope, position: LogPosition | None = None) -> bool:
        """Folds one event; False when it lies after `until` and was left out."""
        if self.until is not None:
            if event.aggregate_id in self.passed or event.occurred_at > self.until:
                self.passed.add(event.aggregate_id)
                self.left_out += 1
                return False
        sink = self._insert_only
        tables = self.tables
        for change in changes(event, position):
            if sink is not None and change.table is EVENT_HISTORY:
                sink(change)
            else:
                apply_in_memory(tables, change)
        self.applied += 1
        return True

    def apply_all(self, events: Iterable[tuple[EventEnvelope, LogPosition | None]]) -> Fold:
        for event, position in events:
            self.apply(event, position)
        return self
