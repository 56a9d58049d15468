"""The network gateway on the real broker, between the processor and the network simulator:
device commands and Settings Updates reach the network once each, its reports move them on,
messages from devices reach their Sim's account, and a bad record from the network is
dead-lettered, not fatal."""

from __future__ import annotations

import base64

import pytest

from events import network
from events.codec import decode_event
from events.commands import (
    CreateAccount,
    CreateFleet,
    CreateNetworkAccessProfile,
    ProvisionSimCard,
    RegisterSim,
    SendIpCommand,
    SendSmsCommand,
    UpdateSim,
)
from events.sids import OPERATOR_ACCOUNT_SID, derive_sid
from services.network_sim.send import ip_from_device, send, sms_from_device
from tests.network.conftest import ICCID, UNREACHABLE_BY_FLAG
from tests.network.support import produce, read_until
from tests.services import ServiceProcess

ACCOUNT = derive_sid("AC", "gateway-tests")


@pytest.fixture
def gateway(sim_settings, tmp_path):
    process = ServiceProcess("network-gateway", sim_settings, log_path=tmp_path / "gateway.log")
    process.start()
    yield process
    process.stop()


@pytest.fixture
def processor(sim_settings, tmp_path):
    process = ServiceProcess("processor", sim_settings, log_path=tmp_path / "processor.log")
    process.start()
    yield process
    process.stop()


async def active_sims(client, *iccids: str) -> dict[str, str]:
    """An account whose Sims of `iccids` are active in a Fleet with SMS Commands webhooks."""

    async def ok(command, account=ACCOUNT):
        outcome = await client.execute(command, account_sid=account, timeout=60)
        assert outcome.status == "accepted", outcome
        return outcome

    await ok(CreateAccount(friendly_name="gateway", auth_token_hash="0" * 64))
    await ok(CreateNetworkAccessProfile(unique_name="nap"))
    await ok(CreateFleet(network_access_profile="nap", unique_name="fleet",
                         sms_commands_url="https://example.com/sms"))  # fmt: skip
    sims = {}
    for iccid in iccids:
        await ok(
            ProvisionSimCard(iccid=iccid, registration_code="ABCDE12345"), OPERATOR_ACCOUNT_SID
        )
        registered = await ok(RegisterSim(iccid=iccid, registration_code="ABCDE12345"))
        sim = registered.events[0].aggregate_id
        await ok(UpdateSim(sim=sim, fleet="fleet", status="active"))
        sims[iccid] = sim
    return sims


async def events_until(settings, done):
    records = await read_until(
        settings, settings.events_topic, lambda rs: done([decode_event(r.value) for r in rs])
    )
    return [decode_event(r.value) for r in records]


def settings_updates(events) -> dict[str, str]:
    """The Settings Update scheduled for each ICCID, by the ICCID."""
    scheduled = (e for e in events if e.type == "SettingsUpdateScheduled")
    return {e.payload.iccid: e.aggregate_id for e in scheduled}


def status_changes(events, sid: str | None) -> list[str]:
    return [e.payload.to_status for e in events if e.aggregate_id == sid and "Status" in e.type]


async def test_commands_reach_the_network_and_its_receipts_move_them_on(
    sim_settings, client, processor, gateway, network_sim
):
    sims = await active_sims(client, ICCID, UNREACHABLE_BY_FLAG)
    sms = await client.execute(
        SendSmsCommand(sim=sims[ICCID], payload="reboot"), account_sid=ACCOUNT, timeout=60
    )
    ip = await client.execute(
        SendIpCommand(sim=sims[ICCID], payload="hi", device_port=6000),
        account_sid=ACCOUNT,
        timeout=60,
    )
    lost = await client.execute(
        SendSmsCommand(sim=sims[UNREACHABLE_BY_FLAG], payload="hello?"),
        account_sid=ACCOUNT,
        timeout=60,
    )
    sms_sid, ip_sid, lost_sid = (o.events[0].aggregate_id for o in (sms, ip, lost))

    def finished(events):
        updates = settings_updates(events)
        return (
            "delivered" in status_changes(events, sms_sid)
            and "sent" in status_changes(events, ip_sid)
            and "failed" in status_changes(events, lost_sid)
            and "successful" in status_changes(events, updates.get(ICCID))
            and "failed" in status_changes(events, updates.get(UNREACHABLE_BY_FLAG))
        )

    events = await events_until(sim_settings, finished)
    assert status_changes(events, sms_sid) == ["sent", "delivered"]
    (ip_sent,) = [e for e in events if e.aggregate_id == ip_sid and e.type.endswith("Changed")]
    assert ip_sent.payload.device_ip  # the network said where the device is
    (failed,) = [e for e in events if e.aggregate_id == lost_sid and e.type.endswith("Changed")]
    assert "unreachable" in failed.payload.reason
    # Each Sim's assignment to the Fleet scheduled its settings, which the network reported.
    updates = settings_updates(events)
    assert status_changes(events, updates[ICCID]) == ["in-progress", "successful"]
    (unreached,) = [e for e in events if e.aggregate_id == updates[UNREACHABLE_BY_FLAG]][1:]
    assert "unreachable" in unreached.payload.reason
    # What the relay wrote: one message per command and per Settings Update, to the network.
    wanted = sorted([sms_sid, ip_sid, lost_sid, *updates.values()])
    out = await read_until(
        sim_settings, sim_settings.network_out_topic, lambda rs: len(rs) >= len(wanted)
    )
    ids = [network.decode_to_network(r.value).message_id for r in out]
    assert sorted(ids) == wanted


async def test_messages_from_devices_reach_their_sims_account(
    sim_settings, client, processor, gateway
):
    sims = await active_sims(client, ICCID)
    await send(sim_settings, sms_from_device(ICCID, "temperature=21"))
    datagram = base64.b64encode(b"\x00\x2a").decode()
    await send(
        sim_settings,
        ip_from_device(ICCID, datagram, device_port=5000, binary=True, ip="10.64.0.9"),
    )

    def received(events):
        return {e.type for e in events} >= {"SmsCommandReceived", "IpCommandReceived"}

    events = await events_until(sim_settings, received)
    (sms,) = [e for e in events if e.type == "SmsCommandReceived"]
    assert (sms.account_sid, sms.payload.sim_sid, sms.payload.payload) == (
        ACCOUNT,
        sims[ICCID],
        "temperature=21",
    )
    assert sms.payload.webhook_url == "https://example.com/sms"
    (ip,) = [e for e in events if e.type == "IpCommandReceived"]
    assert (ip.payload.payload, ip.payload.device_port) == (datagram, 5000)


async def test_a_bad_record_from_the_network_is_dead_lettered_and_the_next_one_answered(
    sim_settings, client, processor, gateway
):
    await active_sims(client, ICCID)
    bad = b'{"type": "receipt", "message_id": "nonsense"}'
    await produce(sim_settings, sim_settings.network_in_topic, [(ICCID.encode(), bad)])
    await send(sim_settings, sms_from_device(ICCID, "after the bad one"))
    events = await events_until(
        sim_settings, lambda es: any(e.type == "SmsCommandReceived" for e in es)
    )
    assert [e.payload.payload for e in events if e.type == "SmsCommandReceived"] == [
        "after the bad one"
    ]
    (dead,) = await read_until(
        sim_settings, sim_settings.network_dlq_topic, lambda rs: len(rs) >= 1
    )
    assert dead.value == bad
    assert dict(dead.headers)["reason"]  # says what was wrong with it


async def test_a_killed_gateway_relays_every_command_exactly_once(
    sim_settings, client, processor, gateway, network_sim
):
    sims = await active_sims(client, ICCID)
    sids = []
    for n in range(40):
        if n == 15:
            gateway.kill()  # SIGKILL, mid-stream: its open transaction is aborted
            gateway.start()
        outcome = await client.execute(
            SendSmsCommand(sim=sims[ICCID], payload=f"m{n}"), account_sid=ACCOUNT, timeout=60
        )
        sids.append(outcome.events[0].aggregate_id)

    def all_delivered(events):
        return all("delivered" in status_changes(events, sid) for sid in sids)

    await events_until(sim_settings, all_delivered)

    def message_ids(records) -> list[str]:
        return [network.decode_to_network(r.value).message_id for r in records]

    def commands(records) -> list[str]:
        return [m for m in message_ids(records) if not m.startswith("OB")]

    out = await read_until(
        sim_settings, sim_settings.network_out_topic, lambda rs: len(commands(rs)) >= 40
    )
    assert sorted(commands(out)) == sorted(sids)  # read_committed: no message twice, none lost
    # ... beside the Settings Update the Sim's assignment to its Fleet sent, once.
    assert len([m for m in message_ids(out) if m.startswith("OB")]) == 1
