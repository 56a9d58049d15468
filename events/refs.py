"""Where an event is: what an outcome lists, and what a step of a process passes on."""

from __future__ import annotations

import msgspec


class EventRef(msgspec.Struct, frozen=True, gc=False, kw_only=True):
    event_id: str
    type: str
    aggregate_type: str
    aggregate_id: str
    aggregate_version: int
    partition: int | None = None  # positions in the events topic, added by the processor
    offset: int | None = None
