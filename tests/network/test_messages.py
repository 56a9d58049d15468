"""The network messages: every valid one survives encode and decode, anything else is refused
with a reason that says what is wrong."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta, timezone

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from events.codec import InvalidMessage
from events.network import (
    EsimProfileReport,
    EsimReservation,
    IpFromDevice,
    IpToDevice,
    NetworkMessageError,
    Receipt,
    SettingsPackage,
    SettingsReport,
    SettingsToDevice,
    SmsFromDevice,
    SmsToDevice,
    decode_from_network,
    decode_to_network,
    encode,
    key_of,
)
from services.domain.rules import iccid_is_valid
from services.network_sim.answers import answer


def sids(prefix: str) -> st.SearchStrategy[str]:
    return st.from_regex(r"[0-9a-f]{32}", fullmatch=True).map(lambda digits: prefix + digits)


iccids = st.from_regex(r"89[0-9]{16,20}", fullmatch=True)
zones = st.integers(-14 * 60, 14 * 60).map(lambda m: timezone(timedelta(minutes=m)))
moments = st.datetimes(
    min_value=datetime(1970, 1, 1), max_value=datetime(9000, 1, 1), timezones=zones
)
base64_text = st.binary(max_size=300).map(lambda data: base64.b64encode(data).decode())
ips = st.ip_addresses().map(str)
ports = st.integers(0, 65535)
network_ids = st.text(min_size=1, max_size=200)

sms_to_device = st.builds(
    SmsToDevice,
    message_id=sids("HC"),
    account_sid=sids("AC"),
    sim_sid=sids("HS"),
    iccid=iccids,
    payload=st.text(),
    sent_at=moments,
)
ip_to_device = st.one_of(
    st.builds(
        IpToDevice,
        message_id=sids("HG"),
        account_sid=sids("AC"),
        sim_sid=sids("HS"),
        iccid=iccids,
        device_port=ports,
        payload_type=st.just(kind),
        payload=payload,
        sent_at=moments,
    )
    for kind, payload in (("text", st.text()), ("binary", base64_text))
)


@st.composite
def receipts(draw) -> Receipt:
    status = draw(st.sampled_from(["sent", "delivered", "failed"]))
    prefix = draw(st.sampled_from(["HC", "HG"]))
    return Receipt(
        receipt_id=draw(network_ids),
        message_id=draw(sids(prefix)),
        account_sid=draw(sids("AC")),
        sim_sid=draw(sids("HS")),
        iccid=draw(iccids),
        status=status,
        reported_at=draw(moments),
        device_ip=draw(ips) if prefix == "HG" and status != "failed" else None,
        reason=draw(st.text(min_size=1)) if status == "failed" else None,
    )


sms_from_device = st.builds(
    SmsFromDevice, message_id=network_ids, iccid=iccids, payload=st.text(), sent_at=moments
)
ip_from_device = st.builds(
    IpFromDevice,
    message_id=network_ids,
    iccid=iccids,
    device_ip=ips,
    device_port=ports,
    payload=base64_text,
    sent_at=moments,
)


settings_to_device = st.builds(
    SettingsToDevice,
    message_id=sids("OB"),
    account_sid=sids("AC"),
    sim_sid=sids("HS"),
    iccid=iccids,
    packages=st.lists(st.builds(SettingsPackage, name=sids("HA"), version=st.text()), max_size=3),
    sent_at=moments,
)


@st.composite
def settings_reports(draw) -> SettingsReport:
    status = draw(st.sampled_from(["in-progress", "successful", "failed"]))
    return SettingsReport(
        report_id=draw(network_ids),
        message_id=draw(sids("OB")),
        account_sid=draw(sids("AC")),
        sim_sid=draw(sids("HS")),
        iccid=draw(iccids),
        status=status,
        reported_at=draw(moments),
        reason=draw(st.text(min_size=1)) if status == "failed" else None,
    )


@given(st.one_of(sms_to_device, ip_to_device, settings_to_device))
def test_every_message_to_the_network_survives_encoding(message):
    assert decode_to_network(encode(message)) == message


@given(st.one_of(receipts(), sms_from_device, ip_from_device, settings_reports()))
def test_every_message_from_the_network_survives_encoding(message):
    assert decode_from_network(encode(message)) == message


@given(iccids)
def test_the_network_takes_the_iccids_the_domain_takes(iccid):
    assert iccid_is_valid(iccid)


def as_json(message, **changes) -> bytes:
    document = msgspec.to_builtins(message)
    document.update(changes)
    return msgspec.json.encode({k: v for k, v in document.items() if v is not DROP})


DROP = object()
NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
SMS = SmsToDevice(
    message_id="HC" + "a" * 32,
    account_sid="AC" + "b" * 32,
    sim_sid="HS" + "c" * 32,
    iccid="8901260000000000001",
    payload="hello",
    sent_at=NOW,
)
RECEIPT = Receipt(
    receipt_id="r1",
    message_id="HG" + "a" * 32,
    account_sid="AC" + "b" * 32,
    sim_sid="HS" + "c" * 32,
    iccid="8901260000000000001",
    status="sent",
    reported_at=NOW,
    device_ip="10.64.0.1",
)
SETTINGS = SettingsToDevice(
    message_id="OB" + "a" * 32,
    account_sid="AC" + "b" * 32,
    sim_sid="HS" + "c" * 32,
    iccid="8901260000000000001",
    packages=[SettingsPackage(name="HA" + "d" * 32, version="0123456789ab")],
    sent_at=NOW,
)
REPORT = SettingsReport(
    report_id="s1",
    message_id="OB" + "a" * 32,
    account_sid="AC" + "b" * 32,
    sim_sid="HS" + "c" * 32,
    iccid="8901260000000000001",
    status="in-progress",
    reported_at=NOW,
)
IP_FROM = IpFromDevice(
    message_id="m1",
    iccid="8901260000000000001",
    device_ip="10.64.0.1",
    device_port=1,
    payload="AAEC",
    sent_at=NOW,
)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"{not json", "not a JSON message"),
        (b"", "not a JSON message"),
        (b'["sms"]', "a message is a JSON object, not list"),
        (b'{"payload": "x"}', 'the message has no "type"'),
        (
            as_json(SMS, type="mms"),
            "unknown type 'mms' (messages to the network are: sms, ip, esim_reservation, settings)",
        ),
        (as_json(SMS, type="receipt"), "type 'receipt' is not a message to the network"),
        (as_json(SMS, type=7), "unknown type 7"),
        (as_json(SMS, message_id=DROP), "missing required field `message_id`"),
        (as_json(SMS, colour="red"), "unknown field `colour`"),
        (as_json(SMS, payload=3), "Expected `str`, got `int` - at `$.payload`"),
        (as_json(SMS, sent_at="2026-11-01T12:00:00"), "timezone"),
        (as_json(SMS, iccid="8901260000000000001F"), "at `$.iccid`"),
        (as_json(SMS, iccid="1234567890123456789"), "at `$.iccid`"),
        (as_json(SMS, iccid="89012600000000000000000"), "at `$.iccid`"),
        (as_json(SMS, iccid="8901260000000000001\n"), "iccid '8901260000000000001\\n' is not"),
        (as_json(SMS, message_id="HG" + "a" * 32), "at `$.message_id`"),
        (as_json(SMS, account_sid="AC" + "b" * 32 + "\n"), "account_sid"),
        (as_json(SETTINGS, message_id="HC" + "a" * 32), "at `$.message_id`"),
        (as_json(SETTINGS, packages=[{"name": "HA"}]), "missing required field `version`"),
        (as_json(SETTINGS, packages=DROP), "missing required field `packages`"),
    ],
)
def test_a_malformed_message_to_the_network_is_refused_with_its_reason(data, reason):
    with pytest.raises(NetworkMessageError) as refused:
        decode_to_network(data)
    assert reason in refused.value.reason
    assert isinstance(refused.value, InvalidMessage)  # the processor dead-letters it


def test_a_binary_ip_command_must_carry_base64():
    message = IpToDevice(
        message_id="HG" + "a" * 32,
        account_sid=SMS.account_sid,
        sim_sid=SMS.sim_sid,
        iccid=SMS.iccid,
        device_port=1,
        payload_type="binary",
        payload="not base64!",
        sent_at=NOW,
    )
    with pytest.raises(NetworkMessageError, match="not base64"):
        decode_to_network(encode(message))
    text = msgspec.structs.replace(message, payload_type="text")
    assert decode_to_network(encode(text)) == text


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (encode(SMS), "type 'sms' is not a message from the network"),
        (as_json(RECEIPT, status="lost"), "at `$.status`"),
        (as_json(RECEIPT, status="failed", device_ip=None), "a failed receipt needs a reason"),
        (as_json(RECEIPT, reason="why not"), "a sent receipt has no reason"),
        (as_json(RECEIPT, message_id="HC" + "a" * 32), "device_ip is for receipts of IP"),
        (as_json(RECEIPT, message_id="HX" + "a" * 32), "at `$.message_id`"),
        (as_json(RECEIPT, device_ip="10.64.0.256"), "device_ip '10.64.0.256' is not an IP"),
        (as_json(RECEIPT, receipt_id=""), "at `$.receipt_id`"),
        (as_json(RECEIPT, reported_at="yesterday"), "at `$.reported_at`"),
        (as_json(REPORT, status="sent"), "at `$.status`"),
        (as_json(REPORT, status="failed"), "a failed report needs a reason"),
        (as_json(REPORT, reason="why not"), "an in-progress report has no reason"),
        (as_json(REPORT, message_id="HC" + "a" * 32), "at `$.message_id`"),
        (as_json(IP_FROM, payload="!!"), "payload is not base64"),
        (as_json(IP_FROM, device_port=65536), "at `$.device_port`"),
        (as_json(IP_FROM, device_port=-1), "at `$.device_port`"),
        (as_json(IP_FROM, device_ip=DROP), "missing required field `device_ip`"),
    ],
)
def test_a_malformed_message_from_the_network_is_refused_with_its_reason(data, reason):
    with pytest.raises(NetworkMessageError) as refused:
        decode_from_network(data)
    assert reason in refused.value.reason


# --- the SM-DP+'s messages: eSIM Profiles ---------------------------------------------------

PROFILE_SID, ACCOUNT_SID = "HP" + "1" * 32, "AC" + "2" * 32
AVAILABLE = EsimProfileReport(
    report_id="NR1",
    message_id=PROFILE_SID,
    account_sid=ACCOUNT_SID,
    status="available",
    reported_at=datetime(2026, 11, 29, tzinfo=UTC),
    iccid="8988307000000000017",
    smdp_plus_address="smdp.example.com",
)


def test_the_simulated_sm_dp_plus_reserves_then_makes_available_with_a_matching_id():
    reservation = EsimReservation(
        message_id=PROFILE_SID,
        account_sid=ACCOUNT_SID,
        eid=None,
        generate_matching_id=True,
        requested_at=datetime(2026, 11, 29, tzinfo=UTC),
    )
    assert decode_to_network(encode(reservation)) == reservation
    assert key_of(reservation) == PROFILE_SID.encode()  # no ICCID yet: keyed by the profile
    reserving, available = answer(reservation, frozenset(), reservation.requested_at)
    assert (reserving.status, available.status) == ("reserving", "available")
    assert decode_from_network(encode(available)) == available
    assert available.activation_code.endswith("$" + available.matching_id)
    # Sent again, the same report: the ingress counts it once.
    again = answer(reservation, frozenset(), reservation.requested_at)[1]
    assert (again.report_id, again.iccid) == (available.report_id, available.iccid)


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"iccid": None}, "an available report needs its iccid"),
        ({"status": "downloaded"}, "iccid and smdp_plus_address come with an available report"),
        ({"error_code": "8.1"}, "error_code and error_message come with a failed report"),
        ({"message_id": "HS" + "1" * 32}, "message_id"),
        ({"eid": "8" * 32}, "eid"),
    ],
)
def test_a_malformed_sm_dp_plus_report_is_refused_with_its_reason(changes, reason):
    with pytest.raises(NetworkMessageError) as refused:
        decode_from_network(as_json(AVAILABLE, **changes))
    assert reason in refused.value.reason, refused.value.reason
