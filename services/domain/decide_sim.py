"""Sim commands: registration from the operator inventory, and the one-decision update.

Decisions:
- An ICCID that is malformed is "not a registrable SIM" (83002), like an unknown one.
- `Status` accepts ready|active|inactive, and `new` only as the no-op it is for a new Sim
  (any other Sim asking for `new` is 83010: nothing returns to new); other values 400 20001.
- `Fleet` may be given as null to unassign, which 83008 refuses for ready/active Sims.
- Validation order: parameters (20001), the Fleet reference (83006), `scheduled` (83009),
  the transition (83010), then the Fleet requirement (83007/83008), then the name (83011).
- Events of one update are ordered so every prefix keeps the invariant "ready/active
  implies a Fleet": assign before activating, deactivate before unassigning.
- The domain itself never puts a Sim in `scheduled` (the API reports a pending change as
  202 scheduled); 83009 is enforced for a state that says so.
"""

from __future__ import annotations

from msgspec import UNSET

from events.commands import RegisterSim, UpdateSim
from events.event_types import (
    SimAssignedToFleet,
    SimCallbackChanged,
    SimRegistered,
    SimRenamed,
    SimStatusChanged,
)
from events.sids import SIM, derive_sid
from services.domain import rejections, rules
from services.domain.emit import Emitter
from services.domain.state import Account, State

AGGREGATE = "Sim"
REQUESTED = "requested"


def register_sim(state: State, account: Account, cmd: RegisterSim, out: Emitter) -> None:
    """Expects: a card of the inventory, with its code, registered by nobody yet."""
    sid = derive_sid(SIM, out.command.command_id, account.sid)
    if sid in account.sims:
        return
    iccid, code = cmd.iccid, cmd.registration_code
    if iccid is UNSET or code is UNSET or not iccid or not code:
        raise rejections.registration_missing()
    card = state.sim_cards.get(iccid)
    if card is None or card.registration_code_hash != rules.registration_code_hash(iccid, code):
        raise rejections.not_registrable()
    owner = state.card_owners.get(iccid)
    if owner is not None and owner.account_sid == account.sid:
        raise rejections.already_registered(owner.sim_sid)
    if owner is not None:
        raise rejections.not_registrable()  # another account's: indistinguishable from unknown
    out.emit(AGGREGATE, sid, 0, SimRegistered(iccid=iccid))


def update_sim(state: State, account: Account, cmd: UpdateSim, out: Emitter) -> None:
    """Expects: an existing Sim. The whole request is one decision: a Fleet given in the same
    request counts for assign-before-activate, and either everything is applied or nothing."""
    sim = account.find_sim(cmd.sim)
    if sim is None:
        raise rejections.not_found("Sim", cmd.sim)

    name = cmd.unique_name
    if name is not UNSET:
        name = rules.unique_name(name, SIM)
    status = sim.status if cmd.status is UNSET else rules.sim_status(cmd.status)
    callback_url = cmd.callback_url
    if callback_url is not UNSET:
        callback_url = rules.url(callback_url, "CallbackUrl")
    callback_method = cmd.callback_method
    if callback_method is not UNSET:
        callback_method = rules.method(callback_method, "CallbackMethod")

    fleet_sid = sim.fleet_sid
    if cmd.fleet is not UNSET:
        if cmd.fleet is None:
            fleet_sid = None
        else:
            fleet = account.find_fleet(cmd.fleet)
            if fleet is None:
                raise rejections.fleet_not_found(cmd.fleet)
            fleet_sid = fleet.sid
        if fleet_sid != sim.fleet_sid and sim.status == "scheduled":
            raise rejections.scheduled_fleet_change()

    status_changes = status != sim.status
    if status_changes and status not in rules.TRANSITIONS[sim.status]:
        raise rejections.transition_not_allowed(sim.status, status)
    if status in rules.NEEDS_FLEET and fleet_sid is None:
        if status_changes:
            raise rejections.activation_needs_fleet(status)
        raise rejections.must_keep_fleet(status)

    if name is not UNSET and name != sim.unique_name:
        if name is not None and account.sim_names.get(name, sim.sid) != sim.sid:
            raise rejections.duplicate_sim_name(name)
        out.emit(
            AGGREGATE,
            sim.sid,
            sim.version,
            SimRenamed(from_unique_name=sim.unique_name, to_unique_name=name),
        )

    if callback_url is not UNSET or callback_method is not UNSET:
        url = sim.callback_url if callback_url is UNSET else callback_url
        method = callback_method
        if method is UNSET:
            method = sim.callback_method or rules.DEFAULT_METHOD
        if (url, method) != (sim.callback_url, sim.callback_method):
            out.emit(AGGREGATE, sim.sid, sim.version, SimCallbackChanged(url=url, method=method))

    assignment = (
        SimAssignedToFleet(from_fleet_sid=sim.fleet_sid, to_fleet_sid=fleet_sid)
        if fleet_sid != sim.fleet_sid
        else None
    )
    status_change = (
        SimStatusChanged(from_status=sim.status, to_status=status, reason=REQUESTED)
        if status_changes
        else None
    )
    # Assign before activating, deactivate before unassigning: every prefix stays valid.
    ordered = (
        (assignment, status_change) if status in rules.NEEDS_FLEET else (status_change, assignment)
    )
    for event in ordered:
        if event is not None:
            out.emit(AGGREGATE, sim.sid, sim.version, event)


SIM_HANDLERS = {RegisterSim: register_sim, UpdateSim: update_sim}
