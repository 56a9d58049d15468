"""What each event does to its aggregate's record, stated once per event type.

Three models keep records of the same resources: the decider's state (services/domain/state.py),
the read-model rows (services/projection/changes.py) and the usage processor's directory
(services/usage/directory.py). None of them restates which field an event changes or where
its value comes from: each looks it up here and keeps the fields it holds (a read-model row
has no `moving_to`; the decider's state keeps no `auth_token_hash`).

`CREATES[type](event)` is the new record's fields; `SETS[type](event)` the fields it changes.
Field names are the decider state's; the version and the SID come from the envelope. Events
whose effect no field list can say (a Network joining a profile, a Sim moving away, the card
registry's facts, an account closing) have a handler of their own in each model.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec

from events import event_types as ev
from events.envelope import EventEnvelope

Fields = dict[str, Any]
Effect = Callable[[EventEnvelope], Fields]


def _payload(e: EventEnvelope) -> Fields:
    """Every payload field, under its own name: a creation event that carries the record."""
    return msgspec.structs.asdict(e.payload)


def _from_sim(e: EventEnvelope, *names: str) -> Fields:
    """A message from a device: its record, without where its webhook went."""
    record = {name: getattr(e.payload, name) for name in names}
    return {**record, "status": "received", "direction": "from_sim"}


CREATES: dict[type, Effect] = {
    # The sealed token is the webhook delivery's alone (services/delivery): no record keeps it.
    ev.AccountCreated: lambda e: {
        name: value for name, value in _payload(e).items() if name != "auth_token_sealed"
    },
    ev.NetworkAccessProfileCreated: lambda e: {
        "unique_name": e.payload.unique_name,
        "network_sids": tuple(e.payload.network_sids),
    },
    ev.FleetCreated: _payload,
    ev.SimRegistered: lambda e: {
        "iccid": e.payload.iccid,
        "unique_name": None,
        "status": "new",
        "fleet_sid": None,
        "callback_url": None,
        "callback_method": None,
        "data_suspended": False,
        "registered_at": e.occurred_at,
    },
    ev.SimMovedIn: lambda e: {
        "iccid": e.payload.iccid,
        "unique_name": e.payload.unique_name,
        "status": "new",  # a moved Sim starts over in its new account: no Fleet
        "fleet_sid": None,
        "callback_url": e.payload.callback_url,
        "callback_method": e.payload.callback_method,
        "data_suspended": e.payload.data_suspended,
        "registered_at": e.payload.registered_at,
    },
    # Device commands: what each direction starts as.
    ev.SmsCommandQueued: lambda e: {**_payload(e), "status": "queued", "direction": "to_sim"},
    ev.SmsCommandReceived: lambda e: _from_sim(e, "sim_sid", "sim_iccid", "payload"),
    ev.IpCommandQueued: lambda e: {
        **_payload(e),
        "device_ip": None,  # known once sent
        "status": "queued",
        "direction": "to_sim",
    },
    ev.IpCommandReceived: lambda e: _from_sim(
        e, "sim_sid", "sim_iccid", "payload", "payload_type", "device_ip", "device_port"
    ),
    ev.SettingsUpdateScheduled: lambda e: {
        "sim_sid": e.payload.sim_sid,
        "iccid": e.payload.iccid,
        "packages": msgspec.to_builtins(e.payload.packages),  # as the read model's jsonb
        "status": "scheduled",
        "date_completed": None,
    },
    # eSIM Profiles: what the SM-DP+ has not said yet is null.
    ev.EsimProfileCreated: lambda e: {
        "eid": e.payload.eid,
        "status": "new",
        "iccid": None,
        "sim_sid": None,
        "smdp_plus_address": None,
        "matching_id": None,
        "activation_code": None,
        "error_code": None,
        "error_message": None,
        "callback_url": e.payload.callback_url,
        "callback_method": e.payload.callback_method,
    },
}

SETS: dict[type, Effect] = {
    ev.AuthTokenChanged: lambda e: {"auth_token_hash": e.payload.auth_token_hash},
    ev.NetworkAccessProfileRenamed: lambda e: {"unique_name": e.payload.to_unique_name},
    ev.FleetRenamed: lambda e: {"unique_name": e.payload.to_unique_name},
    ev.FleetDataLimitChanged: lambda e: {"data_limit": e.payload.to_data_limit},
    ev.FleetNetworkAccessProfileChanged: lambda e: {
        "network_access_profile_sid": e.payload.to_network_access_profile_sid
    },
    ev.FleetSmsCommandsUrlChanged: lambda e: {"sms_commands_url": e.payload.to_url},
    ev.FleetSmsCommandsMethodChanged: lambda e: {"sms_commands_method": e.payload.to_method},
    ev.FleetIpCommandsUrlChanged: lambda e: {"ip_commands_url": e.payload.to_url},
    ev.FleetIpCommandsMethodChanged: lambda e: {"ip_commands_method": e.payload.to_method},
    ev.SimRenamed: lambda e: {"unique_name": e.payload.to_unique_name},
    ev.SimAssignedToFleet: lambda e: {"fleet_sid": e.payload.to_fleet_sid},
    ev.SimStatusChanged: lambda e: {
        "status": e.payload.to_status,
        # The activation whose address the Sim takes (services/domain/decide_ip.py).
        "activated_by": e.command_id if e.payload.to_status == "active" else None,
    },
    ev.SimCallbackChanged: lambda e: {
        "callback_url": e.payload.url,
        "callback_method": e.payload.method,
    },
    # The address an active Sim holds, and the pool it goes back to.
    ev.SimIpAddressAssigned: lambda e: {
        "ip_address": e.payload.ip_address,
        "ip_pool": e.payload.pool,
        "ip_request": e.payload.request_id,
    },
    ev.SimIpAddressReleased: lambda e: {"ip_address": None, "ip_pool": None, "ip_request": None},
    ev.SimIpAddressUnavailable: lambda e: {},  # a fact of its history: no field changes
    ev.SimDataSuspended: lambda e: {"data_suspended": True},
    ev.SimDataResumed: lambda e: {"data_suspended": False},
    # While a Sim moves nothing else may change it; its answer is the asking command's.
    ev.SimMoveRequested: lambda e: {
        "moving_to": e.payload.to_account_sid,
        "move_request": e.command_id,
    },
    ev.SimMoveRefused: lambda e: {"moving_to": None, "move_request": None},
    ev.SmsCommandStatusChanged: lambda e: {"status": e.payload.to_status},
    ev.IpCommandStatusChanged: lambda e: {
        "status": e.payload.to_status,
        **({"device_ip": e.payload.device_ip} if e.payload.device_ip is not None else {}),
    },
    ev.EsimProfileStatusChanged: lambda e: {
        "status": e.payload.to_status,
        **(
            {"error_code": e.payload.error_code, "error_message": e.payload.error_message}
            if e.payload.to_status == "failed"
            else {}
        ),
    },
    ev.EsimProfileAvailable: lambda e: {
        "status": "available",
        "iccid": e.payload.iccid,
        "sim_sid": e.payload.sim_sid,
        "smdp_plus_address": e.payload.smdp_plus_address,
        "matching_id": e.payload.matching_id,
        "activation_code": e.payload.activation_code,
    },
    # Completed when the SIM holds the new settings; a failed update never completes.
    ev.SettingsUpdateStatusChanged: lambda e: {
        "status": e.payload.to_status,
        **({"date_completed": e.occurred_at} if e.payload.to_status == "successful" else {}),
    },
}


def created(event: EventEnvelope) -> Fields | None:
    """The record `event` creates, or None if it creates none."""
    effect = CREATES.get(type(event.payload))
    return None if effect is None else effect(event)


def changed(event: EventEnvelope) -> Fields | None:
    """The fields `event` sets on its aggregate's record, or None if it sets none."""
    effect = SETS.get(type(event.payload))
    return None if effect is None else effect(event)
