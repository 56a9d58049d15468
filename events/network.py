"""The mobile network interface: the messages fleetstate and the network exchange over Kafka.

The network is outside fleetstate. Two topics join them, one JSON message per record, keyed by
the SIM's ICCID (so one SIM's messages keep their order):

    network_out_topic  fleetstate -> network  SmsToDevice ("sms"), IpToDevice ("ip"),
                                              EsimReservation ("esim_reservation"),
                                              SettingsToDevice ("settings")
    network_in_topic   network -> fleetstate  Receipt ("receipt"), SmsFromDevice
                                              ("sms_from_device"), IpFromDevice ("ip_from_device"),
                                              EsimProfileReport ("esim_profile"),
                                              SettingsReport ("settings_report")

The eSIM messages are the SM-DP+'s (the network's profile server): a profile has no ICCID until
the SM-DP+ gives it one, so they are keyed by the profile's SID (`key_of`).

Every message names its kind in "type". Decoding checks the whole shape and refuses anything
else with `NetworkMessageError`, whose reason says what was wrong: the ingress dead-letters such
a record instead of guessing. `schemas/network/<type>.json` is the same contract as JSON Schema.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
from typing import Annotated, Literal

import msgspec
from msgspec import Meta

from events.codec import InvalidMessage
from events.commands import AccountSid, UtcDatetime
from events.iccid import ICCID_PATTERN, iccid_is_valid
from events.sids import is_sid

SMS_COMMAND, IP_COMMAND, SIM, SETTINGS_UPDATE = "HC", "HG", "HS", "OB"

Iccid = Annotated[str, Meta(pattern=ICCID_PATTERN, description="the SIM card's ICCID")]
SmsCommandSid = Annotated[str, Meta(pattern="^HC[0-9a-f]{32}$")]
IpCommandSid = Annotated[str, Meta(pattern="^HG[0-9a-f]{32}$")]
CommandSid = Annotated[str, Meta(pattern="^H[CG][0-9a-f]{32}$")]
SimSid = Annotated[str, Meta(pattern="^HS[0-9a-f]{32}$")]
SettingsUpdateSid = Annotated[str, Meta(pattern="^OB[0-9a-f]{32}$")]
EsimProfileSid = Annotated[str, Meta(pattern="^HP[0-9a-f]{32}$")]
Eid = Annotated[str, Meta(pattern="^[0-9A-Za-z]{32}$", description="the eUICC's EID")]
EsimStatus = Literal["reserving", "available", "downloaded", "installed", "failed"]
# The network's own ids: opaque to fleetstate, which only compares them.
NetworkId = Annotated[str, Meta(min_length=1, max_length=200)]
Port = Annotated[int, Meta(ge=0, le=65535)]
IpAddress = Annotated[str, Meta(min_length=2, max_length=45, description="IPv4 or IPv6")]
Base64 = Annotated[str, Meta(extra_json_schema={"contentEncoding": "base64"})]
ReceiptStatus = Literal["sent", "delivered", "failed"]
SentTo = Annotated[IpAddress, Meta(description="the device's address, for an IP command sent")]
FailureReason = Annotated[str, Meta(description='why, when status is "failed" (and only then)')]


class NetworkMessage(
    msgspec.Struct,
    frozen=True,
    gc=False,
    kw_only=True,
    tag_field="type",
    forbid_unknown_fields=True,  # a misspelt field is refused, never silently dropped
):
    pass


# --- to the network ---------------------------------------------------------------------------


class SmsToDevice(NetworkMessage, tag="sms"):
    """An SmsCommand for the network to send to the SIM as a text message."""

    message_id: SmsCommandSid  # the SmsCommand's SID: receipts name it
    account_sid: AccountSid
    sim_sid: SimSid
    iccid: Iccid
    payload: str  # the text; the API limits it to 160 characters, the network does not
    sent_at: UtcDatetime


class IpToDevice(NetworkMessage, tag="ip"):
    """An IpCommand for the network to send to the SIM's device as one UDP datagram."""

    message_id: IpCommandSid
    account_sid: AccountSid
    sim_sid: SimSid
    iccid: Iccid
    device_port: Port
    payload_type: Literal["text", "binary"]
    payload: Annotated[str, Meta(description='UTF-8 text, or base64 when payload_type is "binary"')]
    sent_at: UtcDatetime


class EsimReservation(NetworkMessage, tag="esim_reservation"):
    """An eSIM Profile for the SM-DP+ to reserve: for the eUICC `eid`, or, with
    `generate_matching_id`, for any device that presents the matching id it generates."""

    message_id: EsimProfileSid  # the EsimProfile's SID: its reports name it
    account_sid: AccountSid
    eid: Eid | None
    generate_matching_id: bool
    requested_at: UtcDatetime


class SettingsPackage(msgspec.Struct, frozen=True, gc=False, forbid_unknown_fields=True):
    name: Annotated[str, Meta(description="the Network Access Profile's SID")]
    version: Annotated[str, Meta(description="derived from the Networks the SIM may use")]


class SettingsToDevice(NetworkMessage, tag="settings"):
    """A Settings Update for the network to bring to the SIM: the packages it is to hold.
    Reports on it (SettingsReport) name its message_id."""

    message_id: SettingsUpdateSid  # the Settings Update's SID
    account_sid: AccountSid
    sim_sid: SimSid
    iccid: Iccid
    packages: list[SettingsPackage]
    sent_at: UtcDatetime


# --- from the network -------------------------------------------------------------------------


class Receipt(NetworkMessage, tag="receipt"):
    """What became of a message to a device. A network may send a receipt more than once: a
    resent receipt has the same receipt_id, so the ingress counts it once."""

    receipt_id: Annotated[NetworkId, Meta(description="the same for a resent receipt")]
    message_id: CommandSid
    account_sid: AccountSid
    sim_sid: SimSid
    iccid: Iccid
    status: ReceiptStatus
    reported_at: UtcDatetime
    device_ip: SentTo | None = None
    reason: FailureReason | None = None


class SmsFromDevice(NetworkMessage, tag="sms_from_device"):
    """A text message the device sent (mobile-originated)."""

    message_id: NetworkId  # unique per message: a resent one has the same id
    iccid: Iccid
    payload: str
    sent_at: UtcDatetime


class IpFromDevice(NetworkMessage, tag="ip_from_device"):
    """A UDP datagram the device sent to fleetstate's command address."""

    message_id: NetworkId
    iccid: Iccid
    device_ip: IpAddress
    device_port: Port  # the port the device sent from
    payload: Base64
    sent_at: UtcDatetime


class EsimProfileReport(NetworkMessage, tag="esim_profile"):
    """What the SM-DP+ did with a profile: reserving; available, with its ICCID, address and
    (when one was asked for) matching id and activation code; downloaded; installed; or
    failed with its error. A resent report has the same report_id and counts once."""

    report_id: Annotated[NetworkId, Meta(description="the same for a resent report")]
    message_id: EsimProfileSid
    account_sid: AccountSid
    status: EsimStatus
    reported_at: UtcDatetime
    iccid: Annotated[Iccid | None, Meta(description="the profile's ICCID: with available")] = None
    smdp_plus_address: Annotated[str, Meta(min_length=1, max_length=255)] | None = None
    matching_id: Annotated[str, Meta(min_length=1, max_length=255)] | None = None
    activation_code: Annotated[str, Meta(min_length=1, max_length=512)] | None = None
    error_code: Annotated[str, Meta(min_length=1, max_length=100)] | None = None
    error_message: Annotated[str, Meta(min_length=1, max_length=500)] | None = None


class SettingsReport(NetworkMessage, tag="settings_report"):
    """How a Settings Update is going: in-progress, then successful or failed. Like a receipt,
    a resent report has the same report_id, so the ingress counts it once."""

    report_id: Annotated[NetworkId, Meta(description="the same for a resent report")]
    message_id: SettingsUpdateSid
    account_sid: AccountSid
    sim_sid: SimSid
    iccid: Iccid
    status: Literal["in-progress", "successful", "failed"]
    reported_at: UtcDatetime
    reason: FailureReason | None = None


ToNetwork = SmsToDevice | IpToDevice | EsimReservation | SettingsToDevice
FromNetwork = Receipt | SmsFromDevice | IpFromDevice | EsimProfileReport | SettingsReport
TO_NETWORK: tuple[type[NetworkMessage], ...] = (
    SmsToDevice,
    IpToDevice,
    EsimReservation,
    SettingsToDevice,
)
FROM_NETWORK: tuple[type[NetworkMessage], ...] = (
    Receipt,
    SmsFromDevice,
    IpFromDevice,
    EsimProfileReport,
    SettingsReport,
)


class NetworkMessageError(InvalidMessage):
    """A record that is not a valid message of its topic; `reason` says why. An InvalidMessage,
    so the processor's dead-letter routing takes it like any other undecodable input."""


# --- codec ------------------------------------------------------------------------------------

_encoder = msgspec.json.Encoder()
_to_decoder = msgspec.json.Decoder(ToNetwork)
_from_decoder = msgspec.json.Decoder(FromNetwork)


def _tag(cls: type[NetworkMessage]) -> str:
    return cls.__struct_config__.tag


def key_of(message: NetworkMessage) -> bytes:
    """The record key: the SIM's ICCID (one SIM's messages keep their order), or an eSIM
    Profile's SID (one profile's reports keep theirs; it may have no ICCID yet)."""
    if isinstance(message, EsimReservation | EsimProfileReport):
        return message.message_id.encode()
    return message.iccid.encode()


def encode(message: NetworkMessage) -> bytes:
    return _encoder.encode(message)


def decode_to_network(data: bytes | str) -> ToNetwork:
    """A message of network_out_topic, checked, or NetworkMessageError."""
    return _decode(data, _to_decoder, TO_NETWORK, "to the network")


def decode_from_network(data: bytes | str) -> FromNetwork:
    """A message of network_in_topic, checked, or NetworkMessageError."""
    return _decode(data, _from_decoder, FROM_NETWORK, "from the network")


def _decode(data, decoder, kinds, direction: str):
    try:
        message = decoder.decode(data)
    except msgspec.ValidationError as exc:
        raise NetworkMessageError(_type_reason(data, kinds, direction) or str(exc)) from None
    except msgspec.DecodeError as exc:
        raise NetworkMessageError(f"not a JSON message: {exc}") from None
    reason = _refusal(message)
    if reason:
        raise NetworkMessageError(reason)
    return message


def _type_reason(data, kinds, direction: str) -> str | None:
    """A clearer reason than msgspec's when the "type" itself is what is wrong (rare: clarity
    over speed, the record is parsed a second time)."""
    try:
        document = msgspec.json.decode(data)
    except msgspec.DecodeError:
        return None
    if not isinstance(document, dict):
        return f"a message is a JSON object, not {type(document).__name__}"
    if "type" not in document:
        return 'the message has no "type"'
    kind = document["type"]
    expected = ", ".join(_tag(cls) for cls in kinds)
    if not isinstance(kind, str) or kind not in {_tag(cls) for cls in kinds}:
        other = {_tag(cls) for cls in (*TO_NETWORK, *FROM_NETWORK)} - {_tag(c) for c in kinds}
        if kind in other:
            return f"type {kind!r} is not a message {direction} (those are: {expected})"
        return f"unknown type {kind!r} (messages {direction} are: {expected})"
    return None


def _refusal(message: NetworkMessage) -> str | None:
    """What the schema's types cannot say (or msgspec's "$", which takes a trailing newline,
    lets through): the full shape of ids, base64, addresses, and a receipt's consistency."""
    iccid = getattr(message, "iccid", None)
    if iccid is not None and not iccid_is_valid(iccid):
        return f"iccid {iccid!r} is not 18 to 22 digits starting 89"
    if isinstance(message, EsimReservation | EsimProfileReport):
        return _esim_refusal(message)
    for field, prefix in (("account_sid", "AC"), ("sim_sid", SIM)):
        value = getattr(message, field, None)
        if value is not None and not is_sid(prefix, value):
            return f"{field} {value!r} is not {prefix} and 32 lowercase hex digits"
    if isinstance(message, (SmsToDevice, IpToDevice, Receipt, SettingsToDevice, SettingsReport)):
        prefixes = {
            SmsToDevice: (SMS_COMMAND,),
            IpToDevice: (IP_COMMAND,),
            SettingsToDevice: (SETTINGS_UPDATE,),
            SettingsReport: (SETTINGS_UPDATE,),
        }
        allowed = prefixes.get(type(message), (SMS_COMMAND, IP_COMMAND))
        if not any(is_sid(p, message.message_id) for p in allowed):
            return f"message_id {message.message_id!r} is not an {'/'.join(allowed)} SID"
    if isinstance(message, IpToDevice) and message.payload_type == "binary":
        if not _is_base64(message.payload):
            return "payload_type is binary but the payload is not base64"
    if isinstance(message, IpFromDevice) and not _is_base64(message.payload):
        return "payload is not base64"
    device_ip = getattr(message, "device_ip", None)
    if device_ip is not None and not _is_ip(device_ip):
        return f"device_ip {device_ip!r} is not an IP address"
    if isinstance(message, Receipt):
        return _reason_refusal(message, "receipt") or _receipt_refusal(message)
    if isinstance(message, SettingsReport):
        return _reason_refusal(message, "report")
    return None


def _reason_refusal(report: Receipt | SettingsReport, what: str) -> str | None:
    if report.status == "failed" and not report.reason:
        return f"a failed {what} needs a reason"
    if report.status != "failed" and report.reason is not None:
        article = "an" if report.status[0] in "aeiou" else "a"
        return f"{article} {report.status} {what} has no reason (only a failed one does)"
    return None


def _receipt_refusal(receipt: Receipt) -> str | None:
    if receipt.device_ip is not None and receipt.message_id.startswith(SMS_COMMAND):
        return "device_ip is for receipts of IP commands, not SMS commands"
    return None


def _esim_refusal(message: EsimReservation | EsimProfileReport) -> str | None:
    if not is_sid("AC", message.account_sid):
        return f"account_sid {message.account_sid!r} is not AC and 32 lowercase hex digits"
    if not is_sid("HP", message.message_id):
        return f"message_id {message.message_id!r} is not an HP SID"
    if isinstance(message, EsimReservation):
        if message.eid is None and not message.generate_matching_id:
            return "a reservation names an eid or asks to generate a matching id"
        return None
    errors = (message.error_code, message.error_message)
    wanted = message.status == "failed"
    if (None in errors) if wanted else errors != (None, None):
        return "error_code and error_message come with a failed report (and only with one)"
    available = ("iccid", "smdp_plus_address")
    if message.status == "available":
        missing = [name for name in available if getattr(message, name) is None]
        if missing:
            return f"an available report needs its {' and '.join(missing)}"
    elif any(getattr(message, name) is not None for name in available):
        return "iccid and smdp_plus_address come with an available report"
    return None


def _is_base64(value: str) -> bool:
    try:
        base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return False
    return True


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True
