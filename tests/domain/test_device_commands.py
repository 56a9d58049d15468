"""SmsCommands and IpCommands: expected state per command, as the decider sees it."""

from __future__ import annotations

import base64

import pytest

from events.commands import (
    CreateFleet,
    ReceiveDeviceMessage,
    RecordCommandReceipt,
    SendIpCommand,
    SendSmsCommand,
    UpdateSim,
    sender_of,
)
from events.sids import OPERATOR_ACCOUNT_SID, is_sid
from services.domain import fold

from .support import ACCOUNT_A, ACCOUNT_B, ICCID_1, ICCID_2, World, rejected, run


def active_world() -> World:
    world = World()
    world.run(UpdateSim(sim=world.sim, fleet="fleet", status="active"))
    return world


def sms(world: World, **fields):
    return world.run(SendSmsCommand(**{"sim": world.sim, "payload": "ping", **fields}))[0]


def receipt(world: World, command: str, status: str, **fields):
    return world.run(RecordCommandReceipt(command=command, status=status, **fields))


# --- to a Sim -----------------------------------------------------------------------------------


def test_an_sms_command_to_an_active_sim_is_queued_with_its_callback():
    world = active_world()
    event = sms(world, callback_url="https://example.com/cb", callback_method="get")
    assert event.type == "SmsCommandQueued" and is_sid("HC", event.aggregate_id)
    p = event.payload
    assert (p.sim_sid, p.sim_iccid, p.payload) == (world.sim, ICCID_1, "ping")
    assert (p.callback_url, p.callback_method) == ("https://example.com/cb", "GET")
    assert world.account.commands[event.aggregate_id].status == "queued"


def test_the_sim_may_be_named_by_its_unique_name():
    world = active_world()
    world.run(UpdateSim(sim=world.sim, unique_name="meter-1"))
    assert sms(world, sim="meter-1").payload.sim_sid == world.sim


@pytest.mark.parametrize(
    ("fields", "says"),
    [
        ({"payload": ""}, "Payload is required"),
        ({"sim": ""}, "Sim is required"),
        ({"payload": "x" * 161}, "at most 160 characters"),
        ({"callback_url": "ftp://example.com"}, "CallbackUrl"),
        ({"callback_method": "PUT"}, "CallbackMethod"),
    ],
)
def test_an_sms_command_with_bad_parameters_is_refused_naming_them(fields, says):
    world = active_world()
    refusal = rejected(world.state, SendSmsCommand(**{"sim": world.sim, "payload": "p", **fields}))
    assert (refusal.http_status, refusal.code) == (400, 20001) and says in refusal.message


def test_a_sim_that_is_not_ready_or_active_cannot_receive_commands():
    world = World()  # its Sim is new
    refusal = rejected(world.state, SendSmsCommand(sim=world.sim, payload="p"))
    assert refusal.code == 20001 and "only a ready or active Sim" in refusal.message
    refusal = rejected(world.state, SendIpCommand(sim=world.sim, payload="p", device_port=1))
    assert refusal.code == 20001


def test_another_accounts_sim_is_not_found():
    world = active_world()
    refusal = rejected(world.state, SendSmsCommand(sim=world.sim, payload="p"), ACCOUNT_B)
    assert (refusal.http_status, refusal.code) == (404, 20404)


def test_a_fleet_with_sms_commands_disabled_refuses_them():
    world = active_world()
    world.run(
        CreateFleet(network_access_profile="nap", unique_name="quiet", commands_enabled=False)
    )
    world.run(UpdateSim(sim=world.sim, fleet="quiet"))
    refusal = rejected(world.state, SendSmsCommand(sim=world.sim, payload="p"))
    assert "SMS Commands are disabled" in refusal.message


def test_an_ip_command_checks_port_type_and_size():
    world = active_world()

    def send(**fields):
        return SendIpCommand(**{"sim": world.sim, "payload": "p", "device_port": 6000, **fields})

    assert rejected(world.state, send(device_port=0)).code == 20001
    assert (
        "DevicePort is required"
        in rejected(world.state, SendIpCommand(sim=world.sim, payload="p")).message
    )
    assert "text or binary" in rejected(world.state, send(payload_type="hex")).message
    assert "base64" in rejected(world.state, send(payload_type="binary", payload="%%")).message
    assert "1300 bytes" in rejected(world.state, send(payload="é" * 651)).message
    big = base64.b64encode(b"x" * 1301).decode()
    assert "1300 bytes" in rejected(world.state, send(payload_type="binary", payload=big)).message
    fits = base64.b64encode(b"x" * 1300).decode()
    event = world.run(send(payload_type="binary", payload=fits))[0]
    assert (event.type, event.payload.payload_type, event.payload.device_port) == (
        "IpCommandQueued",
        "binary",
        6000,
    )


# --- receipts ---------------------------------------------------------------------------------


def test_receipts_move_an_sms_command_forward_and_it_leaves_the_state_when_finished():
    world = active_world()
    sid = sms(world, callback_url="https://example.com/cb").aggregate_id
    (sent,) = receipt(world, sid, "sent")
    assert (sent.payload.from_status, sent.payload.to_status) == ("queued", "sent")
    assert sent.payload.callback_url == "https://example.com/cb"
    (delivered,) = receipt(world, sid, "delivered")
    assert delivered.aggregate_version == 3
    assert sid not in world.account.commands  # finished: no longer in flight
    late = run(world.state, RecordCommandReceipt(command=sid, status="sent"))
    assert late.code == 20404  # a receipt for a finished command changes nothing


def test_a_receipt_never_moves_a_command_back():
    world = active_world()
    sid = sms(world).aggregate_id
    receipt(world, sid, "sent")
    assert receipt(world, sid, "sent") == []  # the network said it twice


def test_an_ip_command_is_finished_when_sent_and_learns_the_device_address():
    world = active_world()
    sid = world.run(SendIpCommand(sim=world.sim, payload="p", device_port=6000))[0].aggregate_id
    (sent,) = receipt(world, sid, "sent", device_ip="10.64.0.7")
    assert (sent.type, sent.payload.device_ip) == ("IpCommandStatusChanged", "10.64.0.7")
    assert sid not in world.account.commands
    sid = world.run(SendIpCommand(sim=world.sim, payload="q", device_port=6000))[0].aggregate_id
    assert (
        "cannot be reported 'delivered'"
        in rejected(world.state, RecordCommandReceipt(command=sid, status="delivered")).message
    )


def test_folding_the_log_gives_the_commands_in_flight_the_decider_had():
    world = active_world()
    finished = sms(world).aggregate_id
    receipt(world, finished, "failed", reason="unreachable")
    waiting = sms(world).aggregate_id
    receipt(world, waiting, "sent")
    assert fold(world.log).accounts[ACCOUNT_A].commands == world.account.commands
    assert list(world.account.commands) == [waiting]


# --- from a Sim ---------------------------------------------------------------------------------


def from_device(world: World, iccid: str = ICCID_1, kind: str = "sms", **fields):
    fields = {"network_message_id": "net-1", "payload": "hello", **fields}
    message = ReceiveDeviceMessage(iccid=iccid, kind=kind, **fields)
    return run(world.state, message, OPERATOR_ACCOUNT_SID, log=world.log)


def test_an_sms_from_a_device_reaches_its_owners_account_with_the_fleets_webhook():
    world = active_world()
    world.run(
        CreateFleet(
            network_access_profile="nap",
            unique_name="hooked",
            sms_commands_url="https://example.com/in",
        )
    )
    world.run(UpdateSim(sim=world.sim, fleet="hooked"))
    assert from_device(world) == []  # the card's partition records nothing: it sends it on
    (received,) = [e for e in world.log if e.type == "SmsCommandReceived"]
    assert received.account_sid == ACCOUNT_A and is_sid("HC", received.aggregate_id)
    p = received.payload
    assert (p.sim_sid, p.payload, p.webhook_url, p.webhook_method) == (
        world.sim,
        "hello",
        "https://example.com/in",
        "POST",
    )


def test_an_ip_message_from_a_device_is_recorded_binary_with_its_address():
    world = active_world()
    payload = base64.b64encode(b"\x00\x01").decode()
    from_device(world, kind="ip", payload=payload, device_ip="10.64.0.7", device_port=5000)
    (received,) = [e for e in world.log if e.type == "IpCommandReceived"]
    assert (received.payload.payload_type, received.payload.device_port) == ("binary", 5000)


def test_a_message_from_a_card_nobody_owns_is_refused():
    world = active_world()
    assert from_device(world, iccid=ICCID_2).code == 20404  # in the inventory, not registered
    assert from_device(world, kind="ip", payload="%%").code == 20001


def test_a_message_from_a_sim_whose_fleet_disabled_sms_commands_is_not_recorded():
    world = active_world()
    world.run(
        CreateFleet(network_access_profile="nap", unique_name="quiet", commands_enabled=False)
    )
    world.run(UpdateSim(sim=world.sim, fleet="quiet"))
    from_device(world)
    assert not [e for e in world.log if e.type == "SmsCommandReceived"]


def test_only_fleetstate_itself_may_send_the_networks_reports():
    # The processor decides a command only from its sender's topic (tests/processor/
    # test_senders.py shows the refusal): reports and the card's step are internal.
    report = RecordCommandReceipt(command="HC" + "0" * 32, status="sent")
    message = ReceiveDeviceMessage(iccid=ICCID_1, kind="sms", network_message_id="n", payload="")
    assert {sender_of(report), sender_of(message)} == {"internal"}
    assert sender_of(SendSmsCommand(sim="s", payload="p")) == "tenant"
