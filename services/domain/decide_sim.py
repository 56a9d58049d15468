"""Sim commands: registration from the operator inventory, moves between accounts of a
family, and the one-decision update.

Registration and moves span partitions: the card registry (decide_card.py) decides who owns a
card, the account's partition records what that means for the account. So RegisterSim
records a request (SimRegistrationRequested) and is answered once the registry has answered
(CompleteSimRegistration -> SimRegistered, RefuseSimRegistration -> SimRegistrationRefused);
an UpdateSim with AccountSid records a move (SimMoveRequested) answered once the card has
been transferred and the Sim has moved in (MoveSimOut -> SimMovedOut).

Decisions:
- An ICCID that is malformed is "not a registrable SIM" (83002), like an unknown one.
- `Status` accepts ready|active|inactive, Twilio's update values; anything else, `new`
  included (even for a Sim that is new), is 400 20001.
- `Fleet` may be given as null to unassign, which 83008 refuses for ready/active Sims.
- Validation order: parameters (20001), the Fleet reference (83006), `scheduled` (83009),
  the transition (83010), then the Fleet requirement (83007/83008), then the name (83011).
- Events of one update are ordered so every prefix keeps the invariant "ready/active
  implies a Fleet": assign before activating, deactivate before unassigning.
- The domain itself never puts a Sim in `scheduled` (the API reports a pending change as
  202 scheduled); 83009 is enforced for a state that says so.
- Assigning a Sim to a Fleet (or another Fleet) schedules a Settings Update for it in the
  same decision (decide_settings.py); unassigning schedules none.
- AccountSid moves a `new` Sim to this account (a no-op) or one of its subaccounts, alone:
  with any other change, or for another account or status, 400 20001. A Sim on its way out
  takes no other change (409 20409). In its new account the Sim keeps its name unless one of
  the account's Sims has it, and has no Fleet (Fleets are the old account's).
"""

from __future__ import annotations

from msgspec import UNSET

from events.commands import (
    AbandonSimRegistration,
    CompleteSimRegistration,
    MoveSimIn,
    MoveSimOut,
    RefuseSimMove,
    RefuseSimRegistration,
    RegisterSim,
    UpdateSim,
)
from events.envelope import Rejection
from events.event_types import (
    SimAssignedToFleet,
    SimCallbackChanged,
    SimMovedIn,
    SimMovedOut,
    SimMoveRefused,
    SimMoveRequested,
    SimRegistered,
    SimRegistrationRefused,
    SimRegistrationRequested,
    SimRenamed,
    SimStatusChanged,
)
from events.sids import SIM, derive_sid
from services.domain import decide_settings as settings
from services.domain import rejections, rules
from services.domain.decide_ip import release_on_leaving_active
from services.domain.emit import Emitter
from services.domain.rejections import Rejected, invalid
from services.domain.state import Account, State
from services.echo import shown

AGGREGATE = "Sim"
REQUESTED = "requested"


def register_sim(state: State, account: Account, cmd: RegisterSim, out: Emitter) -> None:
    """Expects: a card not registered to this account. Whether anyone else has it is the
    card registry's to say: this records the request it is asked."""
    sid = derive_sid(SIM, out.command.command_id, account.sid)
    if sid in account.sims or sid in account.registrations:
        return  # done, or being done: asked again
    iccid, code = cmd.iccid, cmd.registration_code
    if iccid is UNSET or code is UNSET or not iccid or not code:
        raise rejections.registration_missing()
    if iccid in account.sim_iccids:
        raise rejections.already_registered(account.sim_iccids[iccid])
    if not rules.iccid_is_valid(iccid):
        raise rejections.not_registrable()
    code_hash = rules.registration_code_hash(iccid, code)
    out.emit(
        AGGREGATE, sid, 0, SimRegistrationRequested(iccid=iccid, registration_code_hash=code_hash)
    )


def complete_sim_registration(
    state: State, account: Account, cmd: CompleteSimRegistration, out: Emitter
) -> None:
    """The registry reserved the card: the Sim joins the account (once)."""
    registration = account.registrations.get(cmd.sim)
    if registration is None:
        if cmd.sim in account.sims:
            return  # recorded already: the registry is told again
        raise Rejected(Rejection(409, 20409, f"no registration of {cmd.sim} is waiting"))
    out.emit(AGGREGATE, cmd.sim, registration.version, SimRegistered(iccid=registration.iccid))


def refuse_sim_registration(
    state: State, account: Account, cmd: RefuseSimRegistration, out: Emitter
) -> None:
    registration = account.registrations.get(cmd.sim)
    if registration is not None:
        refused = SimRegistrationRefused(
            http_status=cmd.http_status, code=cmd.code, message=cmd.message[:500]
        )
        out.emit(AGGREGATE, cmd.sim, registration.version, refused)


def abandon_sim_registration(
    state: State, account: Account, cmd: AbandonSimRegistration, out: Emitter
) -> None:
    """The registry's reservation waited too long: refused, if it is still waiting."""
    registration = account.registrations.get(cmd.sim)
    if registration is not None:
        message = "the SIM card registry did not answer in time; try again"
        refused = SimRegistrationRefused(http_status=503, code=20503, message=message)
        out.emit(AGGREGATE, cmd.sim, registration.version, refused)


def move_sim_in(state: State, account: Account, cmd: MoveSimIn, out: Emitter) -> None:
    """The card was transferred to this account: the Sim joins it (once)."""
    if cmd.sim in account.sims:
        return
    name = cmd.unique_name
    if name is not None and name in account.sim_names:
        name = None  # taken here: the Sim arrives without one
    moved = SimMovedIn(
        from_account_sid=cmd.from_account,
        iccid=cmd.iccid,
        unique_name=name,
        callback_url=cmd.callback_url,
        callback_method=cmd.callback_method,
        registered_at=cmd.registered_at,
        data_suspended=cmd.data_suspended,
    )
    out.emit(AGGREGATE, cmd.sim, cmd.version, moved)


def move_sim_out(state: State, account: Account, cmd: MoveSimOut, out: Emitter) -> None:
    """The Sim moved in at its new account: this one lets it go (once)."""
    sim = account.sims.get(cmd.sim)
    if sim is not None and sim.moving_to == cmd.to_account:
        moved = SimMovedOut(sim_sid=cmd.sim, to_account_sid=cmd.to_account)
        out.emit("Account", account.sid, account.version, moved)


def refuse_sim_move(state: State, account: Account, cmd: RefuseSimMove, out: Emitter) -> None:
    sim = account.sims.get(cmd.sim)
    if sim is not None and sim.moving_to is not None:
        out.emit(AGGREGATE, sim.sid, sim.version, SimMoveRefused(message=cmd.message[:500]))


def _move(account: Account, sim, cmd: UpdateSim, out: Emitter) -> None:
    others = [
        name
        for name in ("unique_name", "status", "fleet", "callback_url", "callback_method")
        if getattr(cmd, name) is not UNSET
    ]
    if others:
        raise invalid("AccountSid moves a Sim and cannot be combined with other changes")
    if cmd.account not in account.subaccounts:
        raise invalid(
            f"AccountSid {shown(cmd.account)} must be this Account's SID or one of its subaccounts'"
        )
    if sim.status != "new":
        raise invalid(
            f"A Sim can change Account only while its status is 'new', not {sim.status!r}"
        )
    out.emit(AGGREGATE, sim.sid, sim.version, SimMoveRequested(to_account_sid=cmd.account))


def update_sim(state: State, account: Account, cmd: UpdateSim, out: Emitter) -> None:
    """Expects: an existing Sim. The whole request is one decision: a Fleet given in the same
    request counts for assign-before-activate, and either everything is applied or nothing."""
    sim = account.find_sim(cmd.sim)
    if sim is None:
        raise rejections.not_found("Sim", cmd.sim)
    if sim.moving_to is not None:
        raise Rejected(Rejection(409, 20409, f"The Sim is moving to Account {sim.moving_to}"))
    if cmd.account is not UNSET and cmd.account != account.sid:
        _move(account, sim, cmd, out)
        return

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

    url, method = sim.callback_url, sim.callback_method
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
        # The Sim's CallbackUrl (as this update leaves it) is called once the change is made.
        SimStatusChanged(
            from_status=sim.status,
            to_status=status,
            reason=REQUESTED,
            callback_url=url,
            callback_method=method or rules.DEFAULT_METHOD,
        )
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
    if assignment is not None and fleet_sid is not None:
        # The Sim's settings are its new Fleet's now: the network is to bring them to it.
        fleet = account.fleets[fleet_sid]
        settings.schedule(account, sim, fleet, settings.FLEET_ASSIGNED, out, out.command.command_id)
    if status_changes:
        release_on_leaving_active(sim, status, out)


SIM_HANDLERS = {
    RegisterSim: register_sim,
    UpdateSim: update_sim,
    CompleteSimRegistration: complete_sim_registration,
    RefuseSimRegistration: refuse_sim_registration,
    AbandonSimRegistration: abandon_sim_registration,
    MoveSimIn: move_sim_in,
    MoveSimOut: move_sim_out,
    RefuseSimMove: refuse_sim_move,
}
