"""Fleet commands.

Decision: an unknown Network Access Profile given by SID or unique name is 404 20404 (the
contract's "unknown SID or unique name"), on create and on update alike. Settings are
validated (400) before references are resolved (404) before conflicts are checked (409).
"""

from __future__ import annotations

from msgspec import UNSET

from events.commands import CreateFleet, UpdateFleet
from events.event_types import (
    FleetCreated,
    FleetDataLimitChanged,
    FleetIpCommandsMethodChanged,
    FleetIpCommandsUrlChanged,
    FleetNetworkAccessProfileChanged,
    FleetRenamed,
    FleetSmsCommandsMethodChanged,
    FleetSmsCommandsUrlChanged,
)
from events.sids import FLEET, derive_sid
from services.domain import rules
from services.domain.decide_profile import existing_profile
from services.domain.emit import Emitter
from services.domain.rejections import duplicate_name, immutable, invalid, not_found
from services.domain.state import Account, State

AGGREGATE = "Fleet"


def _method_or_unset(value, parameter: str):
    return value if value is UNSET else rules.method(value, parameter)


def _url_or_unset(value, parameter: str):
    return value if value is UNSET else rules.url(value, parameter)


def _sms_commands(cmd: CreateFleet | UpdateFleet):
    """The SMS Commands URL and method under either spelling (UNSET when not given)."""
    url = rules.one_of_two_spellings(
        _url_or_unset(cmd.commands_url, "CommandsUrl"),
        _url_or_unset(cmd.sms_commands_url, "SmsCommandsUrl"),
        "CommandsUrl and SmsCommandsUrl",
    )
    method = rules.one_of_two_spellings(
        _method_or_unset(cmd.commands_method, "CommandsMethod"),
        _method_or_unset(cmd.sms_commands_method, "SmsCommandsMethod"),
        "CommandsMethod and SmsCommandsMethod",
    )
    return url, method


def _profile_sid(account: Account, ref: str) -> str:
    if not ref:
        raise invalid("NetworkAccessProfile is required")
    return existing_profile(account, ref).sid


def _free_name(account: Account, name: str | None, own_sid: str) -> None:
    if name is not None and account.fleet_names.get(name, own_sid) != own_sid:
        raise duplicate_name("Fleet", name)


def create_fleet(state: State, account: Account, cmd: CreateFleet, out: Emitter) -> None:
    """Expects: a new Fleet (SID derived from the command id) and an existing profile."""
    sid = derive_sid(FLEET, out.command.command_id, account.sid)
    if sid in account.fleets:
        return
    name = rules.unique_name(None if cmd.unique_name is UNSET else cmd.unique_name, FLEET)
    data_limit = (
        rules.DATA_LIMIT_DEFAULT if cmd.data_limit is UNSET else rules.data_limit(cmd.data_limit)
    )
    enabled = rules.one_of_two_spellings(
        cmd.commands_enabled,
        cmd.sms_commands_enabled,
        "CommandsEnabled and SmsCommandsEnabled",
    )
    sms_url, sms_method = _sms_commands(cmd)
    ip_url = _url_or_unset(cmd.ip_commands_url, "IpCommandsUrl")
    ip_method = _method_or_unset(cmd.ip_commands_method, "IpCommandsMethod")
    profile_sid = _profile_sid(account, cmd.network_access_profile)
    _free_name(account, name, sid)
    out.emit(
        AGGREGATE,
        sid,
        0,
        FleetCreated(
            unique_name=name,
            network_access_profile_sid=profile_sid,
            data_enabled=True if cmd.data_enabled is UNSET else cmd.data_enabled,
            data_limit=data_limit,
            data_metering=rules.DATA_METERING,
            sms_commands_enabled=True if enabled is UNSET else enabled,
            sms_commands_url=None if sms_url is UNSET else sms_url,
            sms_commands_method=rules.DEFAULT_METHOD if sms_method is UNSET else sms_method,
            ip_commands_url=None if ip_url is UNSET else ip_url,
            ip_commands_method=rules.DEFAULT_METHOD if ip_method is UNSET else ip_method,
        ),
    )


_IMMUTABLE = (
    ("data_enabled", "DataEnabled"),
    ("commands_enabled", "CommandsEnabled"),
    ("sms_commands_enabled", "SmsCommandsEnabled"),
    ("data_metering", "DataMetering"),
)


def update_fleet(state: State, account: Account, cmd: UpdateFleet, out: Emitter) -> None:
    """Expects: an existing Fleet. One event per setting that really changes; an update
    whose every value equals the current one appends nothing."""
    fleet = account.find_fleet(cmd.fleet)
    if fleet is None:
        raise not_found("Fleet", cmd.fleet)
    for field, parameter in _IMMUTABLE:
        if getattr(cmd, field) is not UNSET:
            raise immutable(parameter)
    name = cmd.unique_name
    if name is not UNSET:
        name = rules.unique_name(name, FLEET)
    data_limit = cmd.data_limit
    if data_limit is not UNSET:
        data_limit = rules.data_limit(data_limit)
    sms_url, sms_method = _sms_commands(cmd)
    ip_url = _url_or_unset(cmd.ip_commands_url, "IpCommandsUrl")
    ip_method = _method_or_unset(cmd.ip_commands_method, "IpCommandsMethod")
    profile_sid = cmd.network_access_profile
    if profile_sid is not UNSET:
        profile_sid = _profile_sid(account, profile_sid)
    if name is not UNSET and name != fleet.unique_name:
        _free_name(account, name, fleet.sid)

    def change(current, wanted, event) -> None:
        if wanted is not UNSET and wanted != current:
            out.emit(AGGREGATE, fleet.sid, fleet.version, event(current, wanted))

    change(fleet.unique_name, name, lambda a, b: FleetRenamed(from_unique_name=a, to_unique_name=b))
    change(
        fleet.network_access_profile_sid,
        profile_sid,
        lambda a, b: FleetNetworkAccessProfileChanged(
            from_network_access_profile_sid=a, to_network_access_profile_sid=b
        ),
    )
    change(
        fleet.data_limit,
        data_limit,
        lambda a, b: FleetDataLimitChanged(from_data_limit=a, to_data_limit=b),
    )
    change(
        fleet.sms_commands_url,
        sms_url,
        lambda a, b: FleetSmsCommandsUrlChanged(from_url=a, to_url=b),
    )
    change(
        fleet.sms_commands_method,
        sms_method,
        lambda a, b: FleetSmsCommandsMethodChanged(from_method=a, to_method=b),
    )
    change(
        fleet.ip_commands_url, ip_url, lambda a, b: FleetIpCommandsUrlChanged(from_url=a, to_url=b)
    )
    change(
        fleet.ip_commands_method,
        ip_method,
        lambda a, b: FleetIpCommandsMethodChanged(from_method=a, to_method=b),
    )


FLEET_HANDLERS = {CreateFleet: create_fleet, UpdateFleet: update_fleet}
