"""What crosses the network interface, both ways, pure: events/network.py is its contract.

Out: a queued device command becomes the message the network sends to the device; its id is
the command's SID, which receipts name; a new eSIM Profile becomes the SM-DP+'s reservation,
and its reports come back as RecordEsimProfileReport for the profile's account; a scheduled
Settings Update becomes the settings the network brings to the SIM, its id the update's SID,
and its reports come back as RecordSettingsUpdateStatus. In: a receipt becomes
RecordCommandReceipt for the command's account; a message a device sent becomes
ReceiveDeviceMessage, decided where its card is (the network knows the ICCID, not the
account). Command ids derive from the network's own ids, so a report the network sends twice
is one command to the processor.
"""

from __future__ import annotations

from events import network
from events.commands import (
    CommandEnvelope,
    ReceiveDeviceMessage,
    RecordCommandReceipt,
    RecordEsimProfileReport,
    RecordSettingsUpdateStatus,
)
from events.envelope import EventEnvelope
from events.sids import OPERATOR_ACCOUNT_SID

ACTOR = "network"


def to_network(event: EventEnvelope) -> network.ToNetwork | None:
    """The message for the network that `event` calls for, if any."""
    p = event.payload
    if event.type == "SmsCommandQueued":
        return network.SmsToDevice(
            message_id=event.aggregate_id,
            account_sid=event.account_sid,
            sim_sid=p.sim_sid,
            iccid=p.sim_iccid,
            payload=p.payload,
            sent_at=event.occurred_at,
        )
    if event.type == "IpCommandQueued":
        return network.IpToDevice(
            message_id=event.aggregate_id,
            account_sid=event.account_sid,
            sim_sid=p.sim_sid,
            iccid=p.sim_iccid,
            device_port=p.device_port,
            payload_type=p.payload_type,
            payload=p.payload,
            sent_at=event.occurred_at,
        )
    if event.type == "EsimProfileCreated":
        return network.EsimReservation(
            message_id=event.aggregate_id,
            account_sid=event.account_sid,
            eid=p.eid,
            generate_matching_id=p.generate_matching_id,
            requested_at=event.occurred_at,
        )
    if event.type == "SettingsUpdateScheduled":
        return network.SettingsToDevice(
            message_id=event.aggregate_id,
            account_sid=event.account_sid,
            sim_sid=p.sim_sid,
            iccid=p.iccid,
            packages=[network.SettingsPackage(name=k.name, version=k.version) for k in p.packages],
            sent_at=event.occurred_at,
        )
    return None


def command_of(message: network.FromNetwork) -> CommandEnvelope:
    """The command that reports `message` to the processor."""
    if isinstance(message, network.Receipt):
        receipt = RecordCommandReceipt(
            command=message.message_id,
            status=message.status,
            device_ip=message.device_ip,
            reason=message.reason,
        )
        return _envelope(f"receipt:{message.receipt_id}", message.account_sid, receipt, message)
    if isinstance(message, network.SettingsReport):
        report = RecordSettingsUpdateStatus(
            settings_update=message.message_id, status=message.status, reason=message.reason
        )
        command_id = f"settings-report:{message.report_id}"
        return _envelope(command_id, message.account_sid, report, message)
    if isinstance(message, network.EsimProfileReport):
        report = RecordEsimProfileReport(
            profile=message.message_id,
            status=message.status,
            iccid=message.iccid,
            smdp_plus_address=message.smdp_plus_address,
            matching_id=message.matching_id,
            activation_code=message.activation_code,
            error_code=message.error_code,
            error_message=message.error_message,
        )
        command_id = f"esim-report:{message.report_id}"
        return _envelope(command_id, message.account_sid, report, message)
    if isinstance(message, network.SmsFromDevice):
        device = ReceiveDeviceMessage(
            iccid=message.iccid,
            kind="sms",
            network_message_id=message.message_id,
            payload=message.payload,
        )
    else:
        device = ReceiveDeviceMessage(
            iccid=message.iccid,
            kind="ip",
            network_message_id=message.message_id,
            payload=message.payload,
            device_ip=message.device_ip,
            device_port=message.device_port,
        )
    return _envelope(f"from-device:{message.message_id}", OPERATOR_ACCOUNT_SID, device, message)


def _envelope(command_id: str, account_sid: str, command, message) -> CommandEnvelope:
    return CommandEnvelope(
        command_id=f"network:{command_id}"[:200],
        account_sid=account_sid,
        actor=ACTOR,
        issued_at=getattr(message, "reported_at", None) or message.sent_at,
        command=command,
    )
