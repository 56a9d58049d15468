"""Envelopes: the metadata every event and every outcome travels with."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import msgspec

from events.commands import CommandEnvelope, Sender, UtcDatetime
from events.event_types import Event
from events.refs import EventRef


class EventEnvelope(msgspec.Struct, frozen=True, gc=False, kw_only=True, omit_defaults=True):
    event_id: str  # derived from command_id + index: a retried command derives the same ids
    type: str  # the payload's type name, readable without decoding the payload
    schema_version: int
    account_sid: str  # the partition key
    aggregate_type: str  # "Fleet", "Sim", "NetworkAccessProfile", "Network", "SimCard", "Account"
    aggregate_id: str
    aggregate_version: int  # 1..n without gaps per aggregate
    occurred_at: UtcDatetime  # the command's issued_at: replays reproduce timestamps exactly
    command_id: str  # causation
    correlation_id: str | None
    actor: str
    payload: Event
    # Filled in later by the processor (the input offset answered, in the commands topic of
    # its sender: see events.commands.sender_of) and the tamper chain.
    command_offset: int | None = None
    command_sender: Sender = "tenant"
    prev_hash: str | None = None


class Rejection(msgspec.Struct, frozen=True, gc=False):
    http_status: int
    code: int  # Twilio error code, e.g. 20001, 83007
    message: str


class Outcome(msgspec.Struct, frozen=True, gc=False, kw_only=True):
    command_id: str
    account_sid: str
    status: Literal["accepted", "rejected"]
    events: list[EventRef] = []
    rejection: Rejection | None = None
    decided_at: UtcDatetime
    # The commands topic it answers: the same command id from another kind of sender is
    # another command.
    sender: Sender = "tenant"


def event_ref(event: EventEnvelope) -> EventRef:
    return EventRef(
        event_id=event.event_id,
        type=event.type,
        aggregate_type=event.aggregate_type,
        aggregate_id=event.aggregate_id,
        aggregate_version=event.aggregate_version,
    )


def outcome_of(
    command: CommandEnvelope,
    result: list[EventEnvelope] | Rejection,
    decided_at: datetime,
    sender: Sender = "tenant",
) -> Outcome:
    """The outcome of one decision; `decided_at` comes from the caller (the domain has no clock)."""
    if isinstance(result, Rejection):
        return Outcome(
            command_id=command.command_id,
            account_sid=command.account_sid,
            status="rejected",
            rejection=result,
            decided_at=decided_at,
            sender=sender,
        )
    return Outcome(
        command_id=command.command_id,
        account_sid=command.account_sid,
        status="accepted",
        events=[event_ref(e) for e in result],
        decided_at=decided_at,
        sender=sender,
    )
