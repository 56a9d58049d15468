"""evolve(state, event) -> state: folds one event into the state.

A fold owns its state: evolve updates `state` in place (containers mutated, frozen records
replaced) and returns it, which is what makes replaying millions of events cheap. Callers who
must keep the previous state call `state.copy()` first. Events are facts: evolve never
refuses one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from msgspec.structs import replace

from events import event_types as ev
from events.envelope import EventEnvelope
from services.domain.state import (
    Account,
    CardHolder,
    Fleet,
    Network,
    Profile,
    Registration,
    Sim,
    SimCard,
    State,
)


def _rename(names: dict[str, str], sid: str, old: str | None, new: str | None) -> None:
    if old is not None and names.get(old) == sid:
        del names[old]
    if new is not None:
        names[new] = sid


# --- operator and accounts -------------------------------------------------------------------


def _account_created(state: State, account: Account, e: EventEnvelope) -> None:
    account.version = e.aggregate_version
    account.friendly_name = e.payload.friendly_name
    account.parent_sid = e.payload.parent_account_sid


def _auth_token_changed(state: State, account: Account, e: EventEnvelope) -> None:
    account.version = e.aggregate_version  # the hash is the read model's: no rule reads it


def _account_closed(state: State, account: Account, e: EventEnvelope) -> None:
    account.version = e.aggregate_version
    account.closed = True


def _subaccount_added(state: State, account: Account, e: EventEnvelope) -> None:
    account.version = e.aggregate_version
    account.subaccounts[e.payload.subaccount_sid] = None


def _sim_moved_out(state: State, account: Account, e: EventEnvelope) -> None:
    account.version = e.aggregate_version
    sim = account.sims.pop(e.payload.sim_sid, None)
    if sim is not None:
        _rename(account.sim_names, sim.sid, sim.unique_name, None)
        account.sim_iccids.pop(sim.iccid, None)
        account.departed[sim.sid] = sim.version


def _network_provisioned(state: State, account: Account, e: EventEnvelope) -> None:
    p = e.payload
    state.networks[e.aggregate_id] = Network(
        sid=e.aggregate_id,
        friendly_name=p.friendly_name,
        iso_country=p.iso_country,
        identifiers=tuple((i.mcc, i.mnc) for i in p.identifiers),
        version=e.aggregate_version,
    )


def _sim_card_provisioned(state: State, account: Account, e: EventEnvelope) -> None:
    p = e.payload
    state.sim_cards[p.iccid] = SimCard(
        iccid=p.iccid, registration_code_hash=p.registration_code_hash, version=e.aggregate_version
    )


def _card_set(**holders):
    """A card event setting `owner` and/or `reserved_for` to the event's Sim ("sim"), to the
    Sim in the account the payload names ("to"), or to nobody (None)."""

    def apply(state: State, account: Account, e: EventEnvelope) -> None:
        p = e.payload
        values = {}
        for field, who in holders.items():
            if who == "sim":
                values[field] = CardHolder(e.account_sid, p.sim_sid)
            elif who == "to":
                values[field] = CardHolder(p.to_account_sid, p.sim_sid)
            else:
                values[field] = None
        if "reserved_for" in values:
            held = values["reserved_for"] is not None
            values["reserved_at"] = e.occurred_at if held else None
            values["reserved_request"] = p.request_id if held else None
        card = state.sim_cards[e.aggregate_id]
        state.sim_cards[e.aggregate_id] = replace(card, version=e.aggregate_version, **values)

    return apply


# --- Network Access Profiles -----------------------------------------------------------------


def _profile_created(state: State, account: Account, e: EventEnvelope) -> None:
    p = e.payload
    account.profiles[e.aggregate_id] = Profile(
        sid=e.aggregate_id,
        unique_name=p.unique_name,
        network_sids=tuple(p.network_sids),
        version=e.aggregate_version,
    )
    _rename(account.profile_names, e.aggregate_id, None, p.unique_name)


def _profile_changed(change: Callable[[Profile, object], dict]):
    def apply(state: State, account: Account, e: EventEnvelope) -> None:
        profile = account.profiles[e.aggregate_id]
        account.profiles[e.aggregate_id] = replace(
            profile, version=e.aggregate_version, **change(profile, e.payload)
        )

    return apply


def _profile_renamed(state: State, account: Account, e: EventEnvelope) -> None:
    p = e.payload
    _rename(account.profile_names, e.aggregate_id, p.from_unique_name, p.to_unique_name)
    _profile_changed(lambda _, p: {"unique_name": p.to_unique_name})(state, account, e)


# --- Fleets ----------------------------------------------------------------------------------


def _fleet_created(state: State, account: Account, e: EventEnvelope) -> None:
    p = e.payload
    account.fleets[e.aggregate_id] = Fleet(
        sid=e.aggregate_id,
        unique_name=p.unique_name,
        network_access_profile_sid=p.network_access_profile_sid,
        data_enabled=p.data_enabled,
        data_limit=p.data_limit,
        data_metering=p.data_metering,
        sms_commands_enabled=p.sms_commands_enabled,
        sms_commands_url=p.sms_commands_url,
        sms_commands_method=p.sms_commands_method,
        ip_commands_url=p.ip_commands_url,
        ip_commands_method=p.ip_commands_method,
        version=e.aggregate_version,
    )
    _rename(account.fleet_names, e.aggregate_id, None, p.unique_name)


def _fleet_set(field: str, source: str):
    """A handler that copies payload field `source` into the Fleet's `field`."""

    def apply(state: State, account: Account, e: EventEnvelope) -> None:
        fleet = account.fleets[e.aggregate_id]
        value = getattr(e.payload, source)
        account.fleets[e.aggregate_id] = replace(
            fleet, version=e.aggregate_version, **{field: value}
        )

    return apply


def _fleet_renamed(state: State, account: Account, e: EventEnvelope) -> None:
    p = e.payload
    _rename(account.fleet_names, e.aggregate_id, p.from_unique_name, p.to_unique_name)
    _fleet_set("unique_name", "to_unique_name")(state, account, e)


# --- Sims ------------------------------------------------------------------------------------


def _registration_requested(state: State, account: Account, e: EventEnvelope) -> None:
    account.registrations[e.aggregate_id] = Registration(
        sim_sid=e.aggregate_id,
        iccid=e.payload.iccid,
        request_id=e.command_id,
        version=e.aggregate_version,
    )


def _registration_refused(state: State, account: Account, e: EventEnvelope) -> None:
    account.registrations.pop(e.aggregate_id, None)


def _sim_registered(state: State, account: Account, e: EventEnvelope) -> None:
    iccid = e.payload.iccid
    account.registrations.pop(e.aggregate_id, None)
    account.sims[e.aggregate_id] = Sim(
        sid=e.aggregate_id,
        iccid=iccid,
        unique_name=None,
        status="new",
        fleet_sid=None,
        callback_url=None,
        callback_method=None,
        version=e.aggregate_version,
        registered_at=e.occurred_at,
    )
    account.sim_iccids[iccid] = e.aggregate_id


def _sim_moved_in(state: State, account: Account, e: EventEnvelope) -> None:
    p = e.payload
    account.sims[e.aggregate_id] = Sim(
        sid=e.aggregate_id,
        iccid=p.iccid,
        unique_name=p.unique_name,
        status="new",
        fleet_sid=None,
        callback_url=p.callback_url,
        callback_method=p.callback_method,
        version=e.aggregate_version,
        data_suspended=p.data_suspended,
        registered_at=p.registered_at,
    )
    account.sim_iccids[p.iccid] = e.aggregate_id
    _rename(account.sim_names, e.aggregate_id, None, p.unique_name)


def _sim_move_requested(state: State, account: Account, e: EventEnvelope) -> None:
    sim = account.sims[e.aggregate_id]
    account.sims[e.aggregate_id] = replace(
        sim,
        version=e.aggregate_version,
        moving_to=e.payload.to_account_sid,
        move_request=e.command_id,
    )


def _sim_move_refused(state: State, account: Account, e: EventEnvelope) -> None:
    sim = account.sims[e.aggregate_id]
    account.sims[e.aggregate_id] = replace(
        sim, version=e.aggregate_version, moving_to=None, move_request=None
    )


def _sim_set(field: str, source: str):
    """A handler that copies payload field `source` into the Sim's `field`."""

    def apply(state: State, account: Account, e: EventEnvelope) -> None:
        sim = account.sims[e.aggregate_id]
        value = getattr(e.payload, source)
        account.sims[e.aggregate_id] = replace(sim, version=e.aggregate_version, **{field: value})

    return apply


def _sim_callback_changed(state: State, account: Account, e: EventEnvelope) -> None:
    sim = account.sims[e.aggregate_id]
    account.sims[e.aggregate_id] = replace(
        sim,
        version=e.aggregate_version,
        callback_url=e.payload.url,
        callback_method=e.payload.method,
    )


def _sim_data_suspended(suspended: bool):
    def apply(state: State, account: Account, e: EventEnvelope) -> None:
        sim = account.sims[e.aggregate_id]
        account.sims[e.aggregate_id] = replace(
            sim, version=e.aggregate_version, data_suspended=suspended
        )

    return apply


def _sim_renamed(state: State, account: Account, e: EventEnvelope) -> None:
    p = e.payload
    _rename(account.sim_names, e.aggregate_id, p.from_unique_name, p.to_unique_name)
    _sim_set("unique_name", "to_unique_name")(state, account, e)


_HANDLERS: dict[type, Callable[[State, Account, EventEnvelope], None]] = {
    ev.AccountCreated: _account_created,
    ev.AuthTokenChanged: _auth_token_changed,
    ev.AccountClosed: _account_closed,
    ev.SubaccountAdded: _subaccount_added,
    ev.NetworkProvisioned: _network_provisioned,
    ev.SimCardProvisioned: _sim_card_provisioned,
    ev.SimCardReserved: _card_set(reserved_for="sim"),
    ev.SimCardReservationReleased: _card_set(reserved_for=None),
    ev.SimCardAssigned: _card_set(owner="sim", reserved_for=None),
    ev.SimCardTransferred: _card_set(owner="to"),
    ev.NetworkAccessProfileCreated: _profile_created,
    ev.NetworkAccessProfileRenamed: _profile_renamed,
    ev.NetworkAddedToProfile: _profile_changed(
        lambda profile, p: {"network_sids": (*profile.network_sids, p.network_sid)}
    ),
    ev.NetworkRemovedFromProfile: _profile_changed(
        lambda profile, p: {
            "network_sids": tuple(n for n in profile.network_sids if n != p.network_sid)
        }
    ),
    ev.FleetCreated: _fleet_created,
    ev.FleetRenamed: _fleet_renamed,
    ev.FleetDataLimitChanged: _fleet_set("data_limit", "to_data_limit"),
    ev.FleetNetworkAccessProfileChanged: _fleet_set(
        "network_access_profile_sid", "to_network_access_profile_sid"
    ),
    ev.FleetSmsCommandsUrlChanged: _fleet_set("sms_commands_url", "to_url"),
    ev.FleetSmsCommandsMethodChanged: _fleet_set("sms_commands_method", "to_method"),
    ev.FleetIpCommandsUrlChanged: _fleet_set("ip_commands_url", "to_url"),
    ev.FleetIpCommandsMethodChanged: _fleet_set("ip_commands_method", "to_method"),
    ev.SimRegistrationRequested: _registration_requested,
    ev.SimRegistrationRefused: _registration_refused,
    ev.SimRegistered: _sim_registered,
    ev.SimMoveRequested: _sim_move_requested,
    ev.SimMoveRefused: _sim_move_refused,
    ev.SimMovedIn: _sim_moved_in,
    ev.SimMovedOut: _sim_moved_out,
    ev.SimRenamed: _sim_renamed,
    ev.SimAssignedToFleet: _sim_set("fleet_sid", "to_fleet_sid"),
    ev.SimStatusChanged: _sim_set("status", "to_status"),
    ev.SimCallbackChanged: _sim_callback_changed,
    ev.SimDataSuspended: _sim_data_suspended(True),
    ev.SimDataResumed: _sim_data_suspended(False),
}


def evolve(state: State, event: EventEnvelope) -> State:
    """Folds `event` into `state` (in place) and returns it."""
    _HANDLERS[type(event.payload)](state, state.account(event.account_sid), event)
    return state


def aggregate_version(state: State, event: EventEnvelope) -> int:
    """The version `state` holds of the aggregate `event` changes (0: not there). A fold that
    may already contain an event (a snapshot taken after it) skips it when this is at least
    the event's own version: every event is applied exactly once, whatever the overlap."""
    kind, sid = event.aggregate_type, event.aggregate_id
    if kind == "Account":
        account = state.peek_account(sid)
        return 0 if account is None else account.version
    if kind == "Network":
        record = state.networks.get(sid)
    elif kind == "SimCard":
        record = state.sim_cards.get(sid)
    else:
        account = state.peek_account(event.account_sid)
        if account is None:
            return 0
        records = {"NetworkAccessProfile": account.profiles, "Fleet": account.fleets}
        record = records.get(kind, account.sims).get(sid)
        if record is None and kind == "Sim":
            record = account.registrations.get(sid)
            if record is None:
                return account.departed.get(sid, 0)
    return 0 if record is None else record.version


def fold(events: Iterable[EventEnvelope], state: State | None = None) -> State:
    """The state after `events`, starting from `state` or from nothing."""
    state = State() if state is None else state
    for event in events:
        evolve(state, event)
    return state
