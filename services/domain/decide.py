"""decide(state, command) -> events | Rejection: the one entry point of the write side.

Pure and deterministic: it reads the state and the command envelope only, never mutates the
state, and derives everything new (SIDs, event ids, versions, timestamps) from the command.
"""

from __future__ import annotations

from collections.abc import Callable

from events.commands import CommandEnvelope
from events.envelope import EventEnvelope, Rejection
from events.sids import OPERATOR_ACCOUNT_SID
from services.domain import rules
from services.domain.decide_fleet import FLEET_HANDLERS
from services.domain.decide_operator import ACCOUNT_HANDLERS, OPERATOR_HANDLERS
from services.domain.decide_profile import PROFILE_HANDLERS
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
}
_OPERATOR_HANDLERS: dict[type, Handler] = dict(OPERATOR_HANDLERS)


def decide(state: State, envelope: CommandEnvelope) -> list[EventEnvelope] | Rejection:
    """The events that answer `envelope` (possibly none), or why it is refused.

    [] means nothing to append: either a no-op (every value already as asked) or a command id
    this account has already answered (see `State.seen_command` to tell them apart).
    """
    account_sid = envelope.account_sid
    account = state.peek_account(account_sid)
    if account is not None and envelope.command_id in account.recent_commands:
        return []
    command_type = type(envelope.command)
    # Decision: operator commands from a tenant, or tenant commands from the operator
    # pseudo-account, are invalid requests (400 20001); the contract has no 403.
    if account_sid == OPERATOR_ACCOUNT_SID:
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
    out = Emitter(envelope)
    try:
        # An account never seen yet decides against an empty, throw-away Account.
        handler(state, account or Account(sid=account_sid), envelope.command, out)
    except Rejected as rejected:
        return rejected.rejection
    return out.events
