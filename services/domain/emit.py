"""Builds the event envelopes of one decision: ids, versions and metadata, all derived."""

from __future__ import annotations

from events.commands import CommandEnvelope
from events.envelope import EventEnvelope
from events.event_types import EVENT_TYPES, SCHEMA_VERSIONS, BaseEvent
from events.sids import EVENT, derive_sid

# Event class -> (type name, current schema version), looked up once per event.
_TYPE_AND_VERSION = {cls: (name, SCHEMA_VERSIONS[name]) for name, cls in EVENT_TYPES.items()}


class Emitter:
    """Collects the events of one command, numbering each aggregate's versions from its
    current version: two changes to one Fleet in one command become v+1 and v+2."""

    __slots__ = ("command", "events", "_next_version")

    def __init__(self, command: CommandEnvelope) -> None:
        self.command = command
        self.events: list[EventEnvelope] = []
        self._next_version: dict[str, int] = {}

    def emit(
        self, aggregate_type: str, aggregate_id: str, current_version: int, payload: BaseEvent
    ) -> None:
        version = self._next_version.get(aggregate_id, current_version) + 1
        self._next_version[aggregate_id] = version
        command = self.command
        type_name, schema_version = _TYPE_AND_VERSION[payload.__class__]
        self.events.append(
            EventEnvelope(
                # Salted with account and position: unique per event, stable across retries.
                event_id=derive_sid(
                    EVENT, command.command_id, f"{command.account_sid}:{len(self.events)}"
                ),
                type=type_name,
                schema_version=schema_version,
                account_sid=command.account_sid,
                aggregate_type=aggregate_type,
                aggregate_id=aggregate_id,
                aggregate_version=version,
                occurred_at=command.issued_at,
                command_id=command.command_id,
                correlation_id=command.correlation_id,
                actor=command.actor,
                payload=payload,
            )
        )
