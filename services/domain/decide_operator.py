"""Operator and account commands: the Network catalogue, accounts and their subaccounts."""

from __future__ import annotations

from events.commands import (
    AdoptSubaccount,
    CloseAccount,
    CreateAccount,
    ProvisionNetwork,
    RotateAuthToken,
)
from events.envelope import Rejection
from events.event_types import (
    AccountClosed,
    AccountCreated,
    AuthTokenChanged,
    NetworkIdentifier,
    NetworkProvisioned,
    SubaccountAdded,
)
from events.sids import NETWORK, OPERATOR_ACCOUNT_SID, derive_sid
from services.domain import rules
from services.domain.emit import Emitter
from services.domain.rejections import Rejected, invalid
from services.domain.state import Account, State


def provision_network(state: State, account: Account, cmd: ProvisionNetwork, out: Emitter) -> None:
    """Expects: a new Network. Decision: an mcc/mnc pair already in the catalogue is a
    conflict (409 20409): one carrier network, one catalogue entry."""
    sid = derive_sid(NETWORK, out.command.command_id, OPERATOR_ACCOUNT_SID)
    if sid in state.networks:
        return  # a retry older than the de-dup window: already done
    friendly_name = rules.friendly_name(cmd.friendly_name)
    iso_country = rules.iso_country(cmd.iso_country)
    if not cmd.identifiers:
        raise invalid("Identifiers must list at least one mcc/mnc pair")
    pairs = list(dict.fromkeys(rules.network_identifier(i.mcc, i.mnc) for i in cmd.identifiers))
    known = {pair for network in state.networks.values() for pair in network.identifiers}
    for mcc, mnc in pairs:
        if (mcc, mnc) in known:
            raise Rejected(
                Rejection(409, 20409, f"A Network with mcc {mcc} and mnc {mnc} already exists")
            )
    out.emit(
        "Network",
        sid,
        0,
        NetworkProvisioned(
            friendly_name=friendly_name,
            iso_country=iso_country,
            identifiers=[NetworkIdentifier(mcc=mcc, mnc=mnc) for mcc, mnc in pairs],
        ),
    )


def create_account(state: State, account: Account, cmd: CreateAccount, out: Emitter) -> None:
    """Expects: a new Account, whose SID is the envelope's account_sid (so the command is
    keyed, and lands, where the account's own commands will)."""
    if account.version:
        raise Rejected(Rejection(409, 20409, f"Account {account.sid} already exists"))
    friendly_name = rules.friendly_name(cmd.friendly_name)
    if not cmd.auth_token_hash:
        raise invalid("AuthTokenHash is required")
    parent = cmd.parent_account_sid
    if parent in (account.sid, OPERATOR_ACCOUNT_SID):
        raise invalid(f"ParentAccountSid {parent} cannot be a parent of {account.sid}")
    out.emit(
        "Account",
        account.sid,
        0,
        AccountCreated(
            friendly_name=friendly_name,
            auth_token_hash=cmd.auth_token_hash,
            parent_account_sid=parent,
            auth_token_sealed=cmd.auth_token_sealed,
        ),
    )


def adopt_subaccount(state: State, account: Account, cmd: AdoptSubaccount, out: Emitter) -> None:
    """Expects: the parent (this account) exists; adopting twice is a no-op."""
    if cmd.subaccount not in account.subaccounts:
        out.emit(
            "Account", account.sid, account.version, SubaccountAdded(subaccount_sid=cmd.subaccount)
        )


def rotate_auth_token(state: State, account: Account, cmd: RotateAuthToken, out: Emitter) -> None:
    """Expects: an open account (decide() refuses a closed one). The new hash replaces the old
    one; the token itself never reaches the log."""
    if not _is_token_hash(cmd.auth_token_hash):
        raise invalid("AuthTokenHash must be the hex SHA-256 of the new auth token")
    out.emit(
        "Account",
        account.sid,
        account.version,
        AuthTokenChanged(
            auth_token_hash=cmd.auth_token_hash, auth_token_sealed=cmd.auth_token_sealed
        ),
    )


def close_account(state: State, account: Account, cmd: CloseAccount, out: Emitter) -> None:
    """Expects: an open account (decide() refuses a closed one: closing is once and for good)."""
    out.emit("Account", account.sid, account.version, AccountClosed())


def _is_token_hash(value: str) -> bool:
    return len(value) == 64 and all(c in "0123456789abcdef" for c in value)


OPERATOR_HANDLERS = {ProvisionNetwork: provision_network}
ACCOUNT_HANDLERS = {
    CreateAccount: create_account,
    AdoptSubaccount: adopt_subaccount,
    RotateAuthToken: rotate_auth_token,
    CloseAccount: close_account,
}
