"""decide(state, command) -> events | Rejection: the one entry point of the write side.

Pure and deterministic: it reads the state, the command envelope and the log's size limits
only, never mutates the state, and derives everything new (SIDs, event ids, versions,
timestamps) from the command.
"""

from __future__ import annotations

from collections.abc import Callable

import msgspec

from events.codec import encode_event
from events.commands import (
    PROCESS_STEPS,
    ActivateSimOnDataUsage,
    CommandEnvelope,
    CreateAccount,
    RecordCommandReceipt,
    RecordEsimProfileReport,
    RecordSettingsUpdateStatus,
    ResumeSimData,
    SuspendSimData,
)
from events.envelope import EventEnvelope, Rejection
from events.sids import OPERATOR_ACCOUNT_SID
from services.domain import rules
from services.domain.decide_card import CARD_HANDLERS, OPERATOR_CARD_HANDLERS
from services.domain.decide_device import CARD_DEVICE_HANDLERS, DEVICE_HANDLERS
from services.domain.decide_esim import CARD_ESIM_HANDLERS, ESIM_HANDLERS
from services.domain.decide_fleet import FLEET_HANDLERS
from services.domain.decide_ip import IP_REGISTRY_HANDLERS, IP_SIM_HANDLERS
from services.domain.decide_operator import ACCOUNT_HANDLERS, OPERATOR_HANDLERS
from services.domain.decide_profile import PROFILE_HANDLERS
from services.domain.decide_settings import SETTINGS_HANDLERS
from services.domain.decide_sim import SIM_HANDLERS
from services.domain.decide_usage import USAGE_HANDLERS
from services.domain.emit import Emitter
from services.domain.rejections import Rejected
from services.domain.state import Account, State

Handler = Callable[[State, Account, object, Emitter], None]

_TENANT_HANDLERS: dict[type, Handler] = {
    **ACCOUNT_HANDLERS,
    **PROFILE_HANDLERS,
    **FLEET_HANDLERS,
    **SIM_HANDLERS,
    **USAGE_HANDLERS,
    **DEVICE_HANDLERS,
    **IP_SIM_HANDLERS,
    **ESIM_HANDLERS,
    **SETTINGS_HANDLERS,
}
# Decided where the card is (the partition of its ICCID), or the address (the partition of its
# registry block), whoever's account asked.
_CARD_HANDLERS: dict[type, Handler] = {
    **CARD_HANDLERS,
    **CARD_DEVICE_HANDLERS,
    **CARD_ESIM_HANDLERS,
    **IP_REGISTRY_HANDLERS,
}
_OPERATOR_HANDLERS: dict[type, Handler] = {**OPERATOR_HANDLERS, **OPERATOR_CARD_HANDLERS}
# What a closed account still decides: the steps of processes it began while open (a card must
# not stay held for a registration that can no longer finish), the usage processor's facts
# about its Sims and the network's receipts and reports for what it sent. Everything its users
# or services ask for is refused.
_AFTER_CLOSING = frozenset(
    {
        *PROCESS_STEPS,
        SuspendSimData,
        ResumeSimData,
        ActivateSimOnDataUsage,
        RecordCommandReceipt,
        RecordEsimProfileReport,
        RecordSettingsUpdateStatus,
    }
)


class Limits(msgspec.Struct, frozen=True):
    """What the log can hold: the processor reads the broker's limits at start."""

    # Largest encoded event; the processor later adds the command offset and the chain hash
    # (about 100 bytes), which the limit it passes leaves room for.
    max_event_bytes: int = 1_000_000


NO_LIMITS = Limits(max_event_bytes=2**62)


def decide(
    state: State, envelope: CommandEnvelope, limits: Limits = NO_LIMITS
) -> list[EventEnvelope] | Rejection:
    """The events that answer `envelope` (possibly none: every value already as asked), or why
    it is refused. A command id already answered never reaches the decider: the processor
    answers it with its first outcome."""
    account_sid = envelope.account_sid
    account = state.peek_account(account_sid)
    command_type = type(envelope.command)
    # Decision: operator commands from a tenant, or tenant commands from the operator
    # pseudo-account, are invalid requests (400 20001); the contract has no 403.
    card_step = command_type in _CARD_HANDLERS
    if card_step:
        handler = _CARD_HANDLERS[command_type]
    elif account_sid == OPERATOR_ACCOUNT_SID:
        handler = _OPERATOR_HANDLERS.get(command_type)
    else:
        handler = _TENANT_HANDLERS.get(command_type)
    if handler is None:
        return Rejection(
            400, 20001, f"{command_type.__name__} is not allowed for account {account_sid}"
        )
    with_nul = rules.field_with_nul(envelope)
    if with_nul:
        return Rejection(400, 20001, f"{with_nul} may not contain NUL characters")
    # Every tenant command needs its account, but the one that creates it, and a card's steps,
    # decided where the card is: the account's own partition checked it before asking.
    exists = account is not None and account.version > 0
    needs_account = account_sid != OPERATOR_ACCOUNT_SID and not card_step
    if needs_account and not exists and command_type is not CreateAccount:
        return Rejection(404, 20404, f"The Account {account_sid!r} does not exist")
    if exists and account.closed and command_type not in _AFTER_CLOSING:
        # Decision: as good as gone (404 20404, like an unknown account), but saying why.
        return Rejection(404, 20404, f"The Account {account_sid!r} is closed")
    out = Emitter(envelope)
    try:
        # A new account decides against an empty, throw-away Account.
        handler(state, account or Account(sid=account_sid), envelope.command, out)
    except Rejected as rejected:
        return rejected.rejection
    return _within(limits, out.events)


def _within(limits: Limits, events: list[EventEnvelope]) -> list[EventEnvelope] | Rejection:
    """The events, or a rejection naming the one the log could not hold."""
    for event in events:
        size = len(encode_event(event))
        if size > limits.max_event_bytes:
            return Rejection(
                400,
                20001,
                f"the {event.type} event this command makes would be {size} bytes, more than "
                f"the log's limit of {limits.max_event_bytes}: send smaller values",
            )
    return events
