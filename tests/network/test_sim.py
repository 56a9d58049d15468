"""`fleetstate network-sim` against the real broker: it answers messages for devices like a
network, and device messages sent through it are what the ingress will read."""

from __future__ import annotations

import base64
import ipaddress
import subprocess
import sys
import uuid
from datetime import UTC, datetime

from events.network import (
    IpFromDevice,
    IpToDevice,
    Receipt,
    SettingsPackage,
    SettingsToDevice,
    SmsFromDevice,
    SmsToDevice,
    decode_from_network,
    encode,
)
from services.config import environment_of
from services.network_sim.answers import UNREACHABLE, device_ip
from tests.network.conftest import ICCID, UNREACHABLE_BY_FLAG, UNREACHABLE_BY_SETTING
from tests.network.support import produce, read_until
from tests.services import ServiceProcess

ACCOUNT = "AC" + "1" * 32
SIM = "HS" + "2" * 32


def sms(iccid: str = ICCID, text: str = "hello device") -> SmsToDevice:
    return SmsToDevice(
        message_id="HC" + uuid.uuid4().hex,
        account_sid=ACCOUNT,
        sim_sid=SIM,
        iccid=iccid,
        payload=text,
        sent_at=datetime.now(UTC),
    )


def ip(iccid: str = ICCID) -> IpToDevice:
    return IpToDevice(
        message_id="HG" + uuid.uuid4().hex,
        account_sid=ACCOUNT,
        sim_sid=SIM,
        iccid=iccid,
        device_port=4242,
        payload_type="binary",
        payload=base64.b64encode(b"\x00\x01reboot").decode(),
        sent_at=datetime.now(UTC),
    )


def settings_update(iccid: str = ICCID) -> SettingsToDevice:
    return SettingsToDevice(
        message_id="OB" + uuid.uuid4().hex,
        account_sid=ACCOUNT,
        sim_sid=SIM,
        iccid=iccid,
        packages=[SettingsPackage(name="HA" + "3" * 32, version="0123456789ab")],
        sent_at=datetime.now(UTC),
    )


async def send_out(settings, *messages) -> None:
    await produce(
        settings, settings.network_out_topic, [(m.iccid.encode(), encode(m)) for m in messages]
    )


async def receipts_until(settings, wanted: dict[str, int]) -> dict[str, list[Receipt]]:
    """The receipts of network_in by message_id, read until each wanted message has (at least)
    its number of receipts. Every record must decode, keyed by its ICCID."""

    def by_message(records) -> dict[str, list[Receipt]]:
        found: dict[str, list[Receipt]] = {}
        for record in records:
            receipt = decode_from_network(record.value)
            assert record.key == receipt.iccid.encode()
            found.setdefault(receipt.message_id, []).append(receipt)
        return found

    def done(records) -> bool:
        found = by_message(records)
        return all(len(found.get(m, [])) >= n for m, n in wanted.items())

    return by_message(await read_until(settings, settings.network_in_topic, done))


async def test_an_sms_to_a_reachable_sim_is_sent_then_delivered(sim_settings, network_sim):
    message = sms()
    await send_out(sim_settings, message)
    receipts = (await receipts_until(sim_settings, {message.message_id: 2}))[message.message_id]
    assert [r.status for r in receipts] == ["sent", "delivered"]
    for receipt in receipts:
        assert (receipt.account_sid, receipt.sim_sid, receipt.iccid) == (ACCOUNT, SIM, ICCID)
        assert receipt.device_ip is None and receipt.reason is None
    assert receipts[0].receipt_id != receipts[1].receipt_id


async def test_messages_to_an_unreachable_sim_fail_with_the_reason(sim_settings, network_sim):
    # One ICCID named by --unreachable, one by FLEETSTATE_NETWORK_SIM_UNREACHABLE.
    messages = [sms(UNREACHABLE_BY_FLAG), ip(UNREACHABLE_BY_FLAG), sms(UNREACHABLE_BY_SETTING)]
    await send_out(sim_settings, *messages)
    receipts = await receipts_until(sim_settings, {m.message_id: 1 for m in messages})
    for message in messages:
        [receipt] = receipts[message.message_id]
        assert receipt.status == "failed"
        assert receipt.reason == UNREACHABLE
        assert receipt.device_ip is None


async def test_settings_are_reported_in_progress_then_successful_or_failed_when_unreachable(
    sim_settings, network_sim
):
    reachable, unreachable = settings_update(), settings_update(UNREACHABLE_BY_FLAG)
    await send_out(sim_settings, reachable, unreachable)
    wanted = {reachable.message_id: 2, unreachable.message_id: 1}
    reports = await receipts_until(sim_settings, wanted)
    assert [r.status for r in reports[reachable.message_id]] == ["in-progress", "successful"]
    assert {r.reason for r in reports[reachable.message_id]} == {None}
    [failed] = reports[unreachable.message_id]
    assert (failed.status, failed.reason, failed.sim_sid) == ("failed", UNREACHABLE, SIM)


async def test_an_ip_command_is_sent_to_the_devices_own_address(sim_settings, network_sim):
    first, second = ip(), ip()
    await send_out(sim_settings, first, second)
    receipts = await receipts_until(sim_settings, {first.message_id: 1, second.message_id: 1})
    [a], [b] = receipts[first.message_id], receipts[second.message_id]
    assert a.status == b.status == "sent"
    assert a.device_ip == b.device_ip == device_ip(ICCID)  # the same for an ICCID every time
    assert ipaddress.ip_address(a.device_ip) in ipaddress.ip_network("10.64.0.0/10")


async def test_a_malformed_record_is_skipped_and_the_next_message_answered(
    sim_settings, network_sim
):
    message = sms()
    not_a_message = b'{"type": "sms", "payload": "no ids"}'
    await produce(
        sim_settings,
        sim_settings.network_out_topic,
        [(ICCID.encode(), b"not json"), (ICCID.encode(), not_a_message)],
    )
    await send_out(sim_settings, message)
    receipts = await receipts_until(sim_settings, {message.message_id: 2})
    assert [r.status for r in receipts[message.message_id]] == ["sent", "delivered"]
    assert set(receipts) == {message.message_id}  # nothing answered the malformed records
    network_sim.stop()  # its log is complete once it has stopped
    log = network_sim.log_path.read_text()
    assert "not a JSON message" in log
    assert "Object missing required field `message_id`" in log
    assert "(1 answered, 2 malformed)" in log


async def test_a_restarted_simulator_does_not_answer_committed_messages_again(
    sim_settings, tmp_path
):
    # One ICCID: every message and receipt in one partition, in order, so a second answer
    # to the first message would come before the answer to the last one.
    first, last = sms(), sms()
    sim = ServiceProcess("network-sim", sim_settings, log_path=tmp_path / "sim.log")
    sim.start()
    try:
        await send_out(sim_settings, first)
        await receipts_until(sim_settings, {first.message_id: 2})
    finally:
        sim.stop()  # SIGTERM: it finishes its batch, whose offsets it has committed
    sim.start()
    try:
        await send_out(sim_settings, last)
        receipts = await receipts_until(sim_settings, {last.message_id: 2})
    finally:
        sim.stop()
    assert {m: len(r) for m, r in receipts.items()} == {first.message_id: 2, last.message_id: 2}


def network_sim_send(settings, *argv: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "services.cli", "network-sim", "send", *argv],
        env=environment_of(settings),
        capture_output=True,
        text=True,
        timeout=60,
    )


async def test_send_sms_produces_a_message_from_the_device(topics):
    done = network_sim_send(topics, "sms", "--iccid", ICCID, "--payload", "hello fleetstate")
    assert done.returncode == 0, done.stderr
    message_id = done.stdout.strip()
    records = await read_until(topics, topics.network_in_topic, lambda records: records)
    [record] = records
    message = decode_from_network(record.value)
    assert isinstance(message, SmsFromDevice)
    assert (message.message_id, message.iccid) == (message_id, ICCID)
    assert message.payload == "hello fleetstate"
    assert record.key == ICCID.encode()


async def test_send_ip_sends_text_as_base64_and_binary_as_given(topics):
    text = network_sim_send(
        topics, "ip", "--iccid", ICCID, "--payload", "héllo", "--device-port", "5000"
    )
    binary = network_sim_send(
        topics,
        "ip",
        *("--iccid", ICCID, "--payload", "AAEC", "--binary"),
        *("--device-port", "5001", "--device-ip", "10.1.2.3"),
    )
    assert text.returncode == binary.returncode == 0, text.stderr + binary.stderr
    records = await read_until(topics, topics.network_in_topic, lambda records: len(records) >= 2)
    by_id = {m.message_id: m for m in (decode_from_network(r.value) for r in records)}
    sent_text, sent_binary = by_id[text.stdout.strip()], by_id[binary.stdout.strip()]
    assert isinstance(sent_text, IpFromDevice) and isinstance(sent_binary, IpFromDevice)
    assert base64.b64decode(sent_text.payload) == "héllo".encode()
    assert (sent_text.device_ip, sent_text.device_port) == (device_ip(ICCID), 5000)
    assert base64.b64decode(sent_binary.payload) == b"\x00\x01\x02"
    assert (sent_binary.device_ip, sent_binary.device_port) == ("10.1.2.3", 5001)


def test_send_refuses_a_bad_message_with_its_reason(settings):
    # Refused before anything reaches Kafka: the test's topics are not even created.
    done = network_sim_send(
        settings, "ip", "--iccid", "12345", "--payload", "x", "--device-port", "1"
    )
    assert done.returncode == 2
    assert "not sent" in done.stderr and "iccid" in done.stderr
    done = network_sim_send(
        settings,
        *("ip", "--iccid", ICCID, "--payload", "not base64!", "--binary", "--device-port", "1"),
    )
    assert done.returncode == 2 and "not base64" in done.stderr
