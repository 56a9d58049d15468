"""evolve(state, event) -> state: folds one event into the state.

A fold owns its state: evolve updates `state` in place (containers mutated, frozen records
replaced) and returns it, which is what makes replaying millions of events cheap. Callers who
must keep the previous state call `state.copy()` first. Events are facts: evolve never
refuses one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import cache

from msgspec.structs import replace

from events import event_types as ev
from events.envelope import EventEnvelope
from events.ip_pools import address_number
from services.domain import decide_esim, decide_settings, effects
from services.domain.decide_device import FINISHED
from services.domain.state import (
    Account,
    CardHolder,
    DeviceCommand,
    EsimProfile,
    Fleet,
    IpClaim,
    IpLease,
    Network,
    Profile,
    Registration,
    SettingsUpdate,
    Sim,
    SimCard,
    State,
)


def _rename(names: dict[str, str], sid: str, old: str | None, new: str | None) -> None:
    if old is not None and names.get(old) == sid:
        del names[old]
    if new is not None:
        names[new] = sid


# --- records an event creates or changes (services/domain/effects.py says which fields) ------

_RECORD_TYPES = {"NetworkAccessProfile": Profile, "Fleet": Fleet, "Sim": Sim}


def _records(account: Account, kind: str) -> tuple[dict, dict[str, str]]:
    """The account's records of an aggregate type and their unique-name index."""
    if kind == "NetworkAccessProfile":
        return account.profiles, account.profile_names
    if kind == "Fleet":
        return account.fleets, account.fleet_names
    return account.sims, account.sim_names


@cache
def _fields_of(record_type: type) -> frozenset[str]:
    return frozenset(record_type.__struct_fields__)


def _held(record_type: type, fields: dict) -> dict:
    """The fields a record of `record_type` holds (the read model's are not all the state's)."""
    held = _fields_of(record_type)
    if held.issuperset(fields):
        return fields
    return {k: v for k, v in fields.items() if k in held}


def _create(state: State, account: Account, e: EventEnvelope) -> None:
    fields = effects.created(e)
    if e.aggregate_type == "Account":
        account.version = e.aggregate_version
        for name, value in _held(Account, fields).items():
            setattr(account, name, value)
        return
    record_type = _RECORD_TYPES[e.aggregate_type]
    fields = _held(record_type, fields)
    record = record_type(sid=e.aggregate_id, version=e.aggregate_version, **fields)
    records, names = _records(account, e.aggregate_type)
    records[e.aggregate_id] = record
    _rename(names, e.aggregate_id, None, record.unique_name)
    if record_type is Sim:
        account.registrations.pop(e.aggregate_id, None)
        account.sim_iccids[record.iccid] = e.aggregate_id


def _set(state: State, account: Account, e: EventEnvelope) -> None:
    if e.aggregate_type == "Account":
        account.version = e.aggregate_version  # its fields here are the read model's
        return
    records, names = _records(account, e.aggregate_type)
    record = records[e.aggregate_id]
    fields = _held(type(record), effects.changed(e))
    if "unique_name" in fields:
        _rename(names, record.sid, record.unique_name, fields["unique_name"])
    records[e.aggregate_id] = replace(record, version=e.aggregate_version, **fields)


# --- what no field list says -------------------------------------------------------------------


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


def _ip_address_allocated(state: State, account: Account, e: EventEnvelope) -> None:
    holder = IpClaim(e.account_sid, e.payload.sim_sid, e.payload.request_id)
    state.ip_addresses[e.aggregate_id] = IpLease(
        address=e.aggregate_id, version=e.aggregate_version, holder=holder, pool=e.payload.pool
    )
    state.ip_holders[CardHolder(e.account_sid, e.payload.sim_sid)] = e.aggregate_id
    state.ip_free.take(address_number(e.aggregate_id))


def _ip_address_released(state: State, account: Account, e: EventEnvelope) -> None:
    lease = state.ip_addresses[e.aggregate_id]
    if lease.holder is not None:
        sim = CardHolder(lease.holder.account_sid, lease.holder.sim_sid)
        if state.ip_holders.get(sim) == e.aggregate_id:
            del state.ip_holders[sim]
    state.ip_addresses[e.aggregate_id] = replace(
        lease, version=e.aggregate_version, holder=None, pool=None
    )
    state.ip_free.give(address_number(e.aggregate_id))


def _profile_networks(change: Callable[[tuple[str, ...], str], tuple[str, ...]]):
    def apply(state: State, account: Account, e: EventEnvelope) -> None:
        profile = account.profiles[e.aggregate_id]
        networks = change(profile.network_sids, e.payload.network_sid)
        account.profiles[e.aggregate_id] = replace(
            profile, version=e.aggregate_version, network_sids=networks
        )

    return apply


def _registration_requested(state: State, account: Account, e: EventEnvelope) -> None:
    account.registrations[e.aggregate_id] = Registration(
        sim_sid=e.aggregate_id,
        iccid=e.payload.iccid,
        request_id=e.command_id,
        version=e.aggregate_version,
    )


def _registration_refused(state: State, account: Account, e: EventEnvelope) -> None:
    account.registrations.pop(e.aggregate_id, None)


def _command_queued(state: State, account: Account, e: EventEnvelope) -> None:
    fields = _held(DeviceCommand, effects.created(e))
    account.commands[e.aggregate_id] = DeviceCommand(
        sid=e.aggregate_id, version=e.aggregate_version, **fields
    )


def _command_status_changed(state: State, account: Account, e: EventEnvelope) -> None:
    command = account.commands.get(e.aggregate_id)
    if command is None:
        return  # refolded after it finished (a snapshot's overlap): already gone
    if e.payload.to_status in FINISHED[e.aggregate_type]:
        del account.commands[e.aggregate_id]  # nothing can move it any more
    else:
        account.commands[e.aggregate_id] = replace(
            command, version=e.aggregate_version, status=e.payload.to_status
        )


def _esim_profile_created(state: State, account: Account, e: EventEnvelope) -> None:
    fields = _held(EsimProfile, effects.created(e))
    account.esim_profiles[e.aggregate_id] = EsimProfile(
        sid=e.aggregate_id, version=e.aggregate_version, **fields
    )


def _esim_profile_changed(state: State, account: Account, e: EventEnvelope) -> None:
    profile = account.esim_profiles.get(e.aggregate_id)
    if profile is None:
        return  # refolded after it finished (a snapshot's overlap): already gone
    status = effects.changed(e)["status"]
    if status in decide_esim.FINISHED:
        del account.esim_profiles[e.aggregate_id]  # nothing can move it any more
    else:
        account.esim_profiles[e.aggregate_id] = replace(
            profile, version=e.aggregate_version, status=status
        )


def _settings_update_scheduled(state: State, account: Account, e: EventEnvelope) -> None:
    fields = _held(SettingsUpdate, effects.created(e))
    account.settings_updates[e.aggregate_id] = SettingsUpdate(
        sid=e.aggregate_id, version=e.aggregate_version, **fields
    )


def _settings_update_status_changed(state: State, account: Account, e: EventEnvelope) -> None:
    update = account.settings_updates.get(e.aggregate_id)
    if update is None:
        return  # refolded after it finished (a snapshot's overlap): already gone
    if e.payload.to_status in decide_settings.FINISHED:
        del account.settings_updates[e.aggregate_id]  # nothing can move it any more
    else:
        account.settings_updates[e.aggregate_id] = replace(
            update, version=e.aggregate_version, status=e.payload.to_status
        )


def _not_state(state: State, account: Account, e: EventEnvelope) -> None:
    """Facts the decider needs nothing of (a message from a device is finished on arrival)."""


_HANDLERS: dict[type, Callable[[State, Account, EventEnvelope], None]] = {
    **dict.fromkeys(effects.CREATES, _create),
    **dict.fromkeys(effects.SETS, _set),
    ev.AccountClosed: _account_closed,
    ev.SubaccountAdded: _subaccount_added,
    ev.NetworkProvisioned: _network_provisioned,
    ev.SimCardProvisioned: _sim_card_provisioned,
    ev.SimCardReserved: _card_set(reserved_for="sim"),
    ev.SimCardReservationReleased: _card_set(reserved_for=None),
    ev.SimCardAssigned: _card_set(owner="sim", reserved_for=None),
    ev.SimCardTransferred: _card_set(owner="to"),
    ev.IpAddressAllocated: _ip_address_allocated,
    ev.IpAddressReleased: _ip_address_released,
    ev.NetworkAddedToProfile: _profile_networks(lambda sids, sid: (*sids, sid)),
    ev.NetworkRemovedFromProfile: _profile_networks(
        lambda sids, sid: tuple(n for n in sids if n != sid)
    ),
    ev.SimRegistrationRequested: _registration_requested,
    ev.SimRegistrationRefused: _registration_refused,
    ev.SimMovedOut: _sim_moved_out,
    ev.SmsCommandQueued: _command_queued,
    ev.IpCommandQueued: _command_queued,
    ev.SmsCommandStatusChanged: _command_status_changed,
    ev.IpCommandStatusChanged: _command_status_changed,
    ev.SmsCommandReceived: _not_state,
    ev.IpCommandReceived: _not_state,
    ev.SettingsUpdateScheduled: _settings_update_scheduled,
    ev.SettingsUpdateStatusChanged: _settings_update_status_changed,
    ev.EsimProfileCreated: _esim_profile_created,
    ev.EsimProfileStatusChanged: _esim_profile_changed,
    ev.EsimProfileAvailable: _esim_profile_changed,
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
    elif kind == "IpAddress":
        record = state.ip_addresses.get(sid)
    else:
        account = state.peek_account(event.account_sid)
        if account is None:
            return 0
        records = {
            "NetworkAccessProfile": account.profiles,
            "SettingsUpdate": account.settings_updates,
            "Fleet": account.fleets,
            "SmsCommand": account.commands,
            "IpCommand": account.commands,
            "EsimProfile": account.esim_profiles,
        }
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
