"""What the chaos load sent and what callers were told: the claims the final checks verify."""

from __future__ import annotations

from collections import Counter

import msgspec


class Ledger(msgspec.Struct):
    sent: set[str] = msgspec.field(default_factory=set)  # command ids sent at least once
    accepted: dict[str, list[str]] = {}  # command id -> event ids its outcome named
    rejected: set[str] = msgspec.field(default_factory=set)
    resent: int = 0  # sends of an id already answered, on purpose (retries must be harmless)
    api_statuses: Counter = msgspec.field(default_factory=Counter)
    unavailable_at: list[float] = []  # time.monotonic() of every 503 the API answered
    # command id -> Idempotency-Key of every Fleet the API answered 200/201 for
    api_created: dict[str, str] = {}

    def answered(self, command_id: str, status: str, event_ids: list[str]) -> None:
        if status == "accepted":
            self.accepted[command_id] = event_ids
        else:
            self.rejected.add(command_id)
