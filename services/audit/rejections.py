"""Who tried what, and why it was refused (pure): rejected outcomes joined with the commands
they answer.

An outcome names the command_id, the refusal and when it was decided; the command itself (its
type, parameters and actor) is on the commands topic, kept 7 days. Older rejections are still
listed, without the "what". A retried command is answered again with its first outcome, so
one refusal can appear several times: it is listed once, with the number of attempts.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

import msgspec

from events.commands import CommandEnvelope
from events.envelope import Outcome


class RejectedCommand(msgspec.Struct, frozen=True, kw_only=True):
    decided_at: datetime
    command_id: str
    account_sid: str
    http_status: int
    code: int
    message: str
    attempts: int  # outcomes seen for this command_id (a retry is answered again)
    # From the commands topic; None when the command is no longer there (7-day retention).
    command_type: str | None = None
    parameters: dict[str, Any] | None = None
    actor: str | None = None
    issued_at: datetime | None = None
    correlation_id: str | None = None


def command_parameters(envelope: CommandEnvelope) -> dict[str, Any]:
    """The fields the sender gave (unset ones are left out by to_builtins)."""
    parameters = msgspec.to_builtins(envelope.command)
    parameters.pop("type", None)
    return parameters


def rejected_commands(
    outcomes: Iterable[Outcome],
    commands: Mapping[str, CommandEnvelope],
    account_sid: str,
    since: datetime | None = None,
) -> list[RejectedCommand]:
    """The account's rejected commands decided at or after `since`, oldest first; `commands`
    maps command_id to the command read from the commands topic."""
    first: dict[str, Outcome] = {}
    attempts: dict[str, int] = {}
    for outcome in outcomes:
        if outcome.status != "rejected" or outcome.account_sid != account_sid:
            continue
        if since is not None and outcome.decided_at < since:
            continue
        first.setdefault(outcome.command_id, outcome)
        attempts[outcome.command_id] = attempts.get(outcome.command_id, 0) + 1
    out = []
    for command_id, outcome in first.items():
        rejection = outcome.rejection
        command = commands.get(command_id)
        known = command is not None and command.account_sid == account_sid
        out.append(
            RejectedCommand(
                decided_at=outcome.decided_at,
                command_id=command_id,
                account_sid=account_sid,
                http_status=rejection.http_status if rejection else 0,
                code=rejection.code if rejection else 0,
                message=rejection.message if rejection else "",
                attempts=attempts[command_id],
                command_type=type(command.command).__name__ if known else None,
                parameters=command_parameters(command) if known else None,
                actor=command.actor if known else None,
                issued_at=command.issued_at if known else None,
                correlation_id=command.correlation_id if known else None,
            )
        )
    out.sort(key=lambda r: (r.decided_at, r.command_id))
    return out
