"""What the simulated network answers to a message for a device: pure, no Kafka."""

from __future__ import annotations

import ipaddress
from collections.abc import Set
from datetime import datetime
from hashlib import sha256

from events.network import (
    EsimProfileReport,
    EsimReservation,
    FromNetwork,
    Receipt,
    SettingsReport,
    SettingsToDevice,
    SmsToDevice,
    ToNetwork,
)

UNREACHABLE = "unreachable: the SIM is not attached to a network"
# The simulated SM-DP+: where devices download the profiles it reserves.
SMDP_PLUS_ADDRESS = "smdp-plus.network-sim.invalid"
# Devices get addresses in 10.64.0.0/10 (a private range carriers use for their devices).
DEVICE_NETWORK = ipaddress.IPv4Network("10.64.0.0/10")


def receipt_id(message_id: str, status: str) -> str:
    """The receipt's id, derived, so a resent receipt is the same receipt: the ingress counts
    it once."""
    return "NR" + sha256(f"{message_id}\x1f{status}".encode()).hexdigest()[:32]


def device_ip(iccid: str) -> str:
    """The device's address: the same for an ICCID every time (a hash of it), never the
    network's own address or its broadcast address."""
    hosts = DEVICE_NETWORK.num_addresses - 2
    offset = int.from_bytes(sha256(iccid.encode()).digest()[:8], "big") % hosts
    return str(DEVICE_NETWORK.network_address + 1 + offset)


def esim_iccid(profile_sid: str) -> str:
    """The ICCID the simulated SM-DP+ gives a profile: 19 digits starting 89, the same for a
    profile every time (a hash of its SID)."""
    digits = int.from_bytes(sha256(profile_sid.encode()).digest()[:8], "big") % 10**17
    return f"89{digits:017d}"


def matching_id(profile_sid: str) -> str:
    """A matching id as SM-DP+ servers write them: five groups of five."""
    code = sha256(f"matching\x1f{profile_sid}".encode()).hexdigest()[:25].upper()
    return "-".join(code[i : i + 5] for i in range(0, 25, 5))


def esim_report(
    account_sid: str, profile_sid: str, status: str, now: datetime, **fields: str | None
) -> EsimProfileReport:
    """A report of the SM-DP+ on a profile; its id derives from the profile and the status,
    so a report sent again counts once."""
    return EsimProfileReport(
        report_id=receipt_id(profile_sid, status),
        message_id=profile_sid,
        account_sid=account_sid,
        status=status,
        reported_at=now,
        **fields,
    )


def reserve(message: EsimReservation, now: datetime) -> list[EsimProfileReport]:
    """The simulated SM-DP+ reserves at once: reserving, then available with its ICCID (and
    a matching id and activation code when one was asked for)."""
    code = matching_id(message.message_id) if message.generate_matching_id else None
    available = {
        "iccid": esim_iccid(message.message_id),
        "smdp_plus_address": SMDP_PLUS_ADDRESS,
        "matching_id": code,
        "activation_code": f"1${SMDP_PLUS_ADDRESS}${code}" if code else None,
    }
    return [
        esim_report(message.account_sid, message.message_id, "reserving", now),
        esim_report(message.account_sid, message.message_id, "available", now, **available),
    ]


def answer(message: ToNetwork, unreachable: Set[str], now: datetime) -> list[FromNetwork]:
    """The receipts, in order: an unreachable SIM's message failed; an SMS is sent, then
    delivered; an IP datagram is sent to the device's address (UDP: nothing confirms it); an
    eSIM Profile is reserved. Settings are reported in-progress, then successful (failed
    when unreachable)."""
    if isinstance(message, EsimReservation):
        return reserve(message, now)
    if isinstance(message, SettingsToDevice):
        return _settings_reports(message, unreachable, now)

    def receipt(status: str, **fields: str) -> Receipt:
        return Receipt(
            receipt_id=receipt_id(message.message_id, status),
            message_id=message.message_id,
            account_sid=message.account_sid,
            sim_sid=message.sim_sid,
            iccid=message.iccid,
            status=status,
            reported_at=now,
            **fields,
        )

    if message.iccid in unreachable:
        return [receipt("failed", reason=UNREACHABLE)]
    if isinstance(message, SmsToDevice):
        return [receipt("sent"), receipt("delivered")]
    return [receipt("sent", device_ip=device_ip(message.iccid))]


def _settings_reports(
    message: SettingsToDevice, unreachable: Set[str], now: datetime
) -> list[SettingsReport]:
    def report(status: str, **fields: str) -> SettingsReport:
        return SettingsReport(
            report_id=receipt_id(message.message_id, status),
            message_id=message.message_id,
            account_sid=message.account_sid,
            sim_sid=message.sim_sid,
            iccid=message.iccid,
            status=status,
            reported_at=now,
            **fields,
        )

    if message.iccid in unreachable:
        return [report("failed", reason=UNREACHABLE)]
    return [report("in-progress"), report("successful")]
