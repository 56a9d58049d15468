"""The card registry: commands about one SIM card, decided by the card's one writer.

Every command of a card is keyed by its ICCID, so all of them land in one partition and are
decided there in order: whoever asks, from whichever account's partition, a card is reserved,
assigned, released or transferred by that partition alone, never by two at once. The
accounts' partitions ask (ReserveSimCard, ConfirmSimCard, ReleaseSimCard, TransferSimCard)
and are answered by the commands of services/domain/follow_ups.py.

Decisions:
- A card another account owns or holds, one that is not in the inventory and a wrong code are
  all "not registrable" (83002): nothing tells another account that a card exists.
- A card the same account owns already: 83003 with the Sim it is registered as.
- Asked twice for the same Sim (a step repeated), each command is a no-op that answers again.
"""

from __future__ import annotations

from events.commands import (
    ConfirmSimCard,
    ProvisionSimCard,
    ReleaseSimCard,
    ReserveSimCard,
    TransferSimCard,
)
from events.envelope import Rejection
from events.event_types import (
    SimCardAssigned,
    SimCardProvisioned,
    SimCardReservationReleased,
    SimCardReserved,
    SimCardTransferred,
)
from services.domain import rejections, rules
from services.domain.emit import Emitter
from services.domain.rejections import Rejected, invalid
from services.domain.state import Account, CardHolder, SimCard, State

AGGREGATE = "SimCard"


def provision_sim_card(state: State, account: Account, cmd: ProvisionSimCard, out: Emitter) -> None:
    """Expects: a card not yet in the inventory (the same card with the same code again is a
    no-op; with another code, 409 20409)."""
    if not rules.iccid_is_valid(cmd.iccid):
        raise invalid("Iccid must be 18 to 22 digits starting with 89")
    if not rules.registration_code_is_valid(cmd.registration_code):
        raise invalid("RegistrationCode must be 10 letters or digits")
    code_hash = rules.registration_code_hash(cmd.iccid, cmd.registration_code)
    existing = state.sim_cards.get(cmd.iccid)
    if existing is not None:
        if existing.registration_code_hash == code_hash:
            return
        raise Rejected(Rejection(409, 20409, f"SIM card {cmd.iccid} is already in the inventory"))
    out.emit(
        AGGREGATE,
        cmd.iccid,
        0,
        SimCardProvisioned(iccid=cmd.iccid, registration_code_hash=code_hash),
    )


def reserve_sim_card(state: State, account: Account, cmd: ReserveSimCard, out: Emitter) -> None:
    """Expects: a card of the inventory with this code, neither owned nor held."""
    card = state.sim_cards.get(cmd.iccid)
    holder = CardHolder(out.command.account_sid, cmd.sim)
    if card is None or card.registration_code_hash != cmd.registration_code_hash:
        raise rejections.not_registrable()
    if holder in (card.owner, card.reserved_for):
        return  # asked again: the answer follows again
    if card.owner is not None and card.owner.account_sid == holder.account_sid:
        raise rejections.already_registered(card.owner.sim_sid)
    if card.owner is not None or card.reserved_for is not None:
        raise rejections.not_registrable()  # another's, or another registration's
    reserved = SimCardReserved(sim_sid=cmd.sim, request_id=cmd.request_id)
    out.emit(AGGREGATE, cmd.iccid, card.version, reserved)


def confirm_sim_card(state: State, account: Account, cmd: ConfirmSimCard, out: Emitter) -> None:
    """Expects: the card held for this Sim (owned by it already: a no-op)."""
    card = _card(state, cmd.iccid)
    holder = CardHolder(out.command.account_sid, cmd.sim)
    if card.owner == holder:
        return
    if card.reserved_for != holder:
        raise Rejected(Rejection(409, 20409, f"SIM card {cmd.iccid} is not held for {cmd.sim}"))
    out.emit(AGGREGATE, cmd.iccid, card.version, SimCardAssigned(sim_sid=cmd.sim))


def release_sim_card(state: State, account: Account, cmd: ReleaseSimCard, out: Emitter) -> None:
    """Expects: the card held for this Sim; anything else has nothing to release."""
    card = _card(state, cmd.iccid)
    if card.reserved_for == CardHolder(out.command.account_sid, cmd.sim):
        reason = cmd.reason[:500]
        out.emit(
            AGGREGATE,
            cmd.iccid,
            card.version,
            SimCardReservationReleased(sim_sid=cmd.sim, reason=reason),
        )


def transfer_sim_card(state: State, account: Account, cmd: TransferSimCard, out: Emitter) -> None:
    """Expects: the card owned by this Sim of the asking account."""
    card = _card(state, cmd.iccid)
    if card.owner == CardHolder(cmd.to_account, cmd.sim):
        return  # asked again
    if card.owner != CardHolder(out.command.account_sid, cmd.sim):
        raise Rejected(
            Rejection(409, 20409, f"SIM card {cmd.iccid} does not belong to Sim {cmd.sim}")
        )
    out.emit(
        AGGREGATE,
        cmd.iccid,
        card.version,
        SimCardTransferred(
            sim_sid=cmd.sim,
            from_account_sid=out.command.account_sid,
            to_account_sid=cmd.to_account,
        ),
    )


def _card(state: State, iccid: str) -> SimCard:
    card = state.sim_cards.get(iccid)
    if card is None:
        raise Rejected(Rejection(404, 20404, f"SIM card {iccid} is not in the inventory"))
    return card


# Keyed by ICCID: decided whatever account asks, without that account's state (another
# partition has it; the account's own partition checked it before asking).
CARD_HANDLERS = {
    ReserveSimCard: reserve_sim_card,
    ConfirmSimCard: confirm_sim_card,
    ReleaseSimCard: release_sim_card,
    TransferSimCard: transfer_sim_card,
}
OPERATOR_CARD_HANDLERS = {ProvisionSimCard: provision_sim_card}
