"""Network Access Profile commands.

Decision: a Network that is not in the operator catalogue, given as a body parameter
(`Networks` on create, `Network` on add), is an invalid parameter: 400 20001. A Network
missing from the profile on remove is a missing sub-resource: 404 20404.
"""

from __future__ import annotations

from msgspec import UNSET

from events.commands import (
    AddNetworkToProfile,
    CreateNetworkAccessProfile,
    RemoveNetworkFromProfile,
    UpdateNetworkAccessProfile,
)
from events.event_types import (
    NetworkAccessProfileCreated,
    NetworkAccessProfileRenamed,
    NetworkAddedToProfile,
    NetworkRemovedFromProfile,
)
from events.sids import NETWORK_ACCESS_PROFILE, derive_sid
from services.domain import rules
from services.domain.emit import Emitter
from services.domain.rejections import duplicate_name, invalid, not_found
from services.domain.state import Account, Profile, State
from services.echo import shown

AGGREGATE = "NetworkAccessProfile"


def existing_profile(account: Account, ref: str) -> Profile:
    profile = account.find_profile(ref)
    if profile is None:
        raise not_found("Network Access Profile", ref)
    return profile


def _catalogue_network(state: State, sid: str, parameter: str) -> str:
    if sid not in state.networks:
        raise invalid(f"{parameter} {shown(sid)} is not a Network of the catalogue")
    return sid


def _free_name(account: Account, name: str | None, own_sid: str) -> str | None:
    if name is not None and account.profile_names.get(name, own_sid) != own_sid:
        raise duplicate_name("Network Access Profile", name)
    return name


def create_profile(
    state: State, account: Account, cmd: CreateNetworkAccessProfile, out: Emitter
) -> None:
    """Expects: a new profile (its SID derived from the command id)."""
    sid = derive_sid(NETWORK_ACCESS_PROFILE, out.command.command_id, account.sid)
    if sid in account.profiles:
        return
    name = None if cmd.unique_name is UNSET else cmd.unique_name
    name = rules.unique_name(name, NETWORK_ACCESS_PROFILE)
    networks = list(dict.fromkeys(_catalogue_network(state, n, "Networks") for n in cmd.networks))
    _free_name(account, name, sid)
    created = NetworkAccessProfileCreated(unique_name=name, network_sids=networks)
    out.emit(AGGREGATE, sid, 0, created)


def update_profile(
    state: State, account: Account, cmd: UpdateNetworkAccessProfile, out: Emitter
) -> None:
    """Expects: an existing profile. Renaming to the current name appends nothing."""
    profile = existing_profile(account, cmd.network_access_profile)
    if cmd.unique_name is UNSET:
        return
    name = rules.unique_name(cmd.unique_name, NETWORK_ACCESS_PROFILE)
    if name == profile.unique_name:
        return
    _free_name(account, name, profile.sid)
    out.emit(
        AGGREGATE,
        profile.sid,
        profile.version,
        NetworkAccessProfileRenamed(from_unique_name=profile.unique_name, to_unique_name=name),
    )


def add_network(state: State, account: Account, cmd: AddNetworkToProfile, out: Emitter) -> None:
    """Expects: an existing profile and a catalogue Network; adding one twice is a no-op."""
    profile = existing_profile(account, cmd.network_access_profile)
    network = _catalogue_network(state, cmd.network, "Network")
    if network in profile.network_sids:
        return
    out.emit(AGGREGATE, profile.sid, profile.version, NetworkAddedToProfile(network_sid=network))


def remove_network(
    state: State, account: Account, cmd: RemoveNetworkFromProfile, out: Emitter
) -> None:
    """Expects: an existing profile that contains the Network."""
    profile = existing_profile(account, cmd.network_access_profile)
    if cmd.network not in profile.network_sids:
        raise not_found("Network", cmd.network)
    out.emit(
        AGGREGATE, profile.sid, profile.version, NetworkRemovedFromProfile(network_sid=cmd.network)
    )


PROFILE_HANDLERS = {
    CreateNetworkAccessProfile: create_profile,
    UpdateNetworkAccessProfile: update_profile,
    AddNetworkToProfile: add_network,
    RemoveNetworkFromProfile: remove_network,
}
