"""Device commands: SmsCommands (HC) and IpCommands (HG), to a Sim and from it.

To a Sim: SendSmsCommand / SendIpCommand queue a command (status `queued`) that the relay
hands to the network; the network's receipts (RecordCommandReceipt) move it to `sent`, then
`delivered` (SMS) or `failed`, each change calling the command's CallbackUrl.
From a Sim: the network reports a message by ICCID (ReceiveDeviceMessage); the card's one
writer knows the card's owner and sends RecordMessageFromSim to the owner's account, which
records it (status `received`) with the Fleet's webhook of the moment.

Decisions (Twilio states the limits, not the codes; every refusal is 400 20001 unless said):
- Sim and Payload are required; the Sim by SID or unique name (404 20404 if unknown).
- Only a `ready` or `active` Sim can receive: a `new` or `inactive` one is not attached.
- An SMS Command is at most 160 characters; its Fleet must have SMS Commands enabled.
- An IP Command's payload is at most 1300 bytes (text as UTF-8, binary after base64
  decoding); DevicePort is required, 1..65535; PayloadType text (default) or binary.
- A receipt never moves a command back (a late `sent` after `delivered` changes nothing);
  a receipt for a command not in flight (finished, or unknown) is refused 404 20404.
- A message from a Sim whose Fleet has SMS Commands disabled is refused (not recorded).
"""

from __future__ import annotations

import base64
import binascii

from msgspec import UNSET

from events.commands import (
    ReceiveDeviceMessage,
    RecordCommandReceipt,
    RecordMessageFromSim,
    SendIpCommand,
    SendSmsCommand,
)
from events.event_types import (
    IpCommandQueued,
    IpCommandReceived,
    IpCommandStatusChanged,
    SmsCommandQueued,
    SmsCommandReceived,
    SmsCommandStatusChanged,
)
from events.sids import IP_COMMAND, SMS_COMMAND, derive_sid, is_sid
from services.domain import rejections, rules
from services.domain.emit import Emitter
from services.domain.rejections import invalid
from services.domain.state import Account, Fleet, Sim, State
from services.echo import shown

SMS, IP = "SmsCommand", "IpCommand"
MAX_SMS_CHARACTERS = 160
MAX_IP_PAYLOAD_BYTES = 1300
PAYLOAD_TYPES = ("text", "binary")
# How far along each status is: a receipt only ever moves a command forward.
_PROGRESS = {
    SMS: {"queued": 0, "sent": 1, "delivered": 2, "failed": 2},
    IP: {"queued": 0, "sent": 1, "failed": 1},
}
FINISHED = {SMS: frozenset({"delivered", "failed"}), IP: frozenset({"sent", "failed"})}


def send_sms_command(state: State, account: Account, cmd: SendSmsCommand, out: Emitter) -> None:
    payload = _required(cmd.payload, "Payload")
    if len(payload) > MAX_SMS_CHARACTERS:
        raise invalid(f"Payload may be at most {MAX_SMS_CHARACTERS} characters")
    callback_url, callback_method = _callback(cmd.callback_url, cmd.callback_method)
    sim = _receiving_sim(account, cmd.sim)
    fleet = account.fleets[sim.fleet_sid]  # a ready or active Sim always has one
    _sms_enabled(fleet)
    sid = derive_sid(SMS_COMMAND, out.command.command_id, account.sid)
    event = SmsCommandQueued(
        sim_sid=sim.sid,
        sim_iccid=sim.iccid,
        payload=payload,
        callback_url=callback_url,
        callback_method=callback_method,
    )
    out.emit(SMS, sid, 0, event)


def send_ip_command(state: State, account: Account, cmd: SendIpCommand, out: Emitter) -> None:
    payload = _required(cmd.payload, "Payload")
    payload_type = "text" if cmd.payload_type is UNSET else cmd.payload_type
    if payload_type not in PAYLOAD_TYPES:
        raise invalid("PayloadType must be text or binary")
    _ip_payload(payload, payload_type)
    port = cmd.device_port
    if port is UNSET:
        raise invalid("DevicePort is required")
    if not 1 <= port <= 65535:
        raise invalid("DevicePort must be a port number, 1 to 65535")
    callback_url, callback_method = _callback(cmd.callback_url, cmd.callback_method)
    sim = _receiving_sim(account, cmd.sim)
    sid = derive_sid(IP_COMMAND, out.command.command_id, account.sid)
    event = IpCommandQueued(
        sim_sid=sim.sid,
        sim_iccid=sim.iccid,
        payload=payload,
        payload_type=payload_type,
        device_port=port,
        callback_url=callback_url,
        callback_method=callback_method,
    )
    out.emit(IP, sid, 0, event)


def record_command_receipt(
    state: State, account: Account, cmd: RecordCommandReceipt, out: Emitter
) -> None:
    """Expects: the command in flight, and a status it has not reached yet."""
    kind = (
        SMS if is_sid(SMS_COMMAND, cmd.command) else IP if is_sid(IP_COMMAND, cmd.command) else None
    )
    command = account.commands.get(cmd.command)
    if kind is None or command is None:
        raise rejections.not_found("device command in flight", cmd.command)
    progress = _PROGRESS[kind]
    if cmd.status not in progress or cmd.status == "queued":
        raise invalid(f"A {kind} cannot be reported {shown(cmd.status)}")
    if progress[cmd.status] <= progress[command.status]:
        return  # late or repeated: the command is already past it
    common = {
        "sim_sid": command.sim_sid,
        "from_status": command.status,
        "to_status": cmd.status,
        "reason": cmd.reason,
        "callback_url": command.callback_url,
        "callback_method": command.callback_method,
    }
    if kind == SMS:
        event = SmsCommandStatusChanged(**common)
    else:
        event = IpCommandStatusChanged(device_ip=cmd.device_ip, **common)
    out.emit(kind, command.sid, command.version, event)


def receive_device_message(
    state: State, account: Account, cmd: ReceiveDeviceMessage, out: Emitter
) -> None:
    """Decided by the card's partition: it records nothing, it checks the card has an owner
    and the message is well formed; follow_ups sends it on to the owner."""
    card = state.sim_cards.get(cmd.iccid)
    if card is None or card.owner is None:
        raise rejections.not_found("registered SIM card", cmd.iccid)
    if cmd.kind == "sms":
        if len(cmd.payload) > MAX_SMS_CHARACTERS:
            raise invalid(f"An SMS from a device is at most {MAX_SMS_CHARACTERS} characters")
        return
    _ip_payload(cmd.payload, "binary")
    if cmd.device_ip is None or cmd.device_port is None or not 0 <= cmd.device_port <= 65535:
        raise invalid("An IP message from a device needs its address and port")


def record_message_from_sim(
    state: State, account: Account, cmd: RecordMessageFromSim, out: Emitter
) -> None:
    sim = account.sims.get(cmd.sim)
    if sim is None:
        raise rejections.not_found("Sim", cmd.sim)  # it moved away meanwhile
    fleet = account.fleets.get(sim.fleet_sid) if sim.fleet_sid else None
    if cmd.kind == "sms":
        if fleet is not None:
            _sms_enabled(fleet)
        sid = derive_sid(SMS_COMMAND, out.command.command_id, account.sid)
        event = SmsCommandReceived(
            sim_sid=sim.sid,
            sim_iccid=sim.iccid,
            payload=cmd.payload,
            network_message_id=cmd.network_message_id,
            webhook_url=fleet.sms_commands_url if fleet else None,
            webhook_method=fleet.sms_commands_method if fleet else rules.DEFAULT_METHOD,
        )
        out.emit(SMS, sid, 0, event)
        return
    sid = derive_sid(IP_COMMAND, out.command.command_id, account.sid)
    event = IpCommandReceived(
        sim_sid=sim.sid,
        sim_iccid=sim.iccid,
        payload=cmd.payload,
        payload_type="binary",
        device_ip=cmd.device_ip or "",
        device_port=cmd.device_port or 0,
        network_message_id=cmd.network_message_id,
        webhook_url=fleet.ip_commands_url if fleet else None,
        webhook_method=fleet.ip_commands_method if fleet else rules.DEFAULT_METHOD,
    )
    out.emit(IP, sid, 0, event)


# --- the rules they share ---------------------------------------------------------------------


def _required(value, parameter: str) -> str:
    if value is UNSET or value == "":
        raise invalid(f"{parameter} is required")
    return value


def _callback(url, method) -> tuple[str | None, str]:
    url = None if url is UNSET else rules.url(url, "CallbackUrl")
    method = rules.DEFAULT_METHOD if method is UNSET else rules.method(method, "CallbackMethod")
    return url, method


def _receiving_sim(account: Account, ref) -> Sim:
    ref = _required(ref, "Sim")
    sim = account.find_sim(ref)
    if sim is None:
        raise rejections.not_found("Sim", ref)
    if sim.status not in ("ready", "active"):
        raise invalid(
            f"The Sim {sim.sid} is {sim.status}: only a ready or active Sim can receive commands"
        )
    return sim


def _sms_enabled(fleet: Fleet) -> None:
    if not fleet.sms_commands_enabled:
        raise invalid(f"SMS Commands are disabled for the Fleet {fleet.sid}")


def _ip_payload(payload: str, payload_type: str) -> None:
    if payload_type == "binary":
        try:
            size = len(base64.b64decode(payload, validate=True))
        except (binascii.Error, ValueError):
            raise invalid("Payload must be base64 when PayloadType is binary") from None
    else:
        size = len(payload.encode())
    if size > MAX_IP_PAYLOAD_BYTES:
        raise invalid(f"Payload may be at most {MAX_IP_PAYLOAD_BYTES} bytes")


DEVICE_HANDLERS = {
    SendSmsCommand: send_sms_command,
    SendIpCommand: send_ip_command,
    RecordCommandReceipt: record_command_receipt,
    RecordMessageFromSim: record_message_from_sim,
}
CARD_DEVICE_HANDLERS = {ReceiveDeviceMessage: receive_device_message}
