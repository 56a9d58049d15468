"""SmsCommands and IpCommands through the API, driven by the official twilio-python SDK."""

from __future__ import annotations

import asyncio
import base64

import pytest
from twilio.base.exceptions import TwilioRestException

from tests.api.test_twilio_sdk import sdk


def active_sim(stack, v1, tag: str):
    nap = v1.network_access_profiles.create(networks=stack.network_sids[:1])
    fleet = v1.fleets.create(network_access_profile=nap.sid, unique_name=f"{tag}-fleet")
    iccid, code = stack.card()
    sim = v1.sims.create(iccid=iccid, registration_code=code)
    return v1.sims(sim.sid).update(fleet=fleet.sid, status="active", unique_name=f"{tag}-sim")


def send_and_read(stack, account) -> dict:
    v1 = sdk(stack, account).supersim.v1
    sim = active_sim(stack, v1, "dc")
    sms = v1.sms_commands.create(
        sim="dc-sim", payload="reboot", callback_url="https://example.com/cb"
    )
    fetched = v1.sms_commands(sms.sid).fetch()
    binary = base64.b64encode(b"\x01\x02\x03").decode()
    ip = v1.ip_commands.create(sim=sim.sid, payload=binary, device_port=6000, payload_type="binary")
    ip_fetched = v1.ip_commands(ip.sid).fetch()
    text_ip = v1.ip_commands.create(sim=sim.sid, payload="hello", device_port=7000)
    sms_listed = v1.sms_commands.list(sim="dc-sim", direction="to_sim")
    ip_listed = list(v1.ip_commands.stream(sim_iccid=sim.iccid, page_size=1))
    none_received = v1.sms_commands.list(sim="dc-sim", status="received")
    with pytest.raises(TwilioRestException) as too_long:
        v1.sms_commands.create(sim=sim.sid, payload="x" * 161)
    with pytest.raises(TwilioRestException) as no_port:
        v1.ip_commands.create(sim=sim.sid, payload="p", device_port=0)
    with pytest.raises(TwilioRestException) as unknown_sim:
        v1.sms_commands.create(sim="no-such-sim", payload="p")
    with pytest.raises(TwilioRestException) as missing:
        v1.sms_commands("HC" + "0" * 32).fetch()
    return locals()


async def test_the_sdk_sends_fetches_and_lists_device_commands(stack, account):
    r = await asyncio.to_thread(send_and_read, stack, account)
    sim, sms, ip = r["sim"], r["sms"], r["ip"]
    assert sms.sid.startswith("HC") and (sms.sim_sid, sms.account_sid) == (sim.sid, account.sid)
    # Queued, or further on if the network (when the stack runs one) answered already.
    on_its_way = {"queued", "sent", "delivered"}
    assert (sms.direction, sms.payload) == ("to_sim", "reboot") and sms.status in on_its_way
    assert sms.url.endswith(f"/v1/SmsCommands/{sms.sid}")
    assert r["fetched"].sid == sms.sid and r["fetched"].status in on_its_way
    assert ip.sid.startswith("HG") and (ip.sim_iccid, ip.device_port) == (sim.iccid, 6000)
    assert (ip.payload_type, ip.direction) == ("binary", "to_sim")
    assert r["ip_fetched"].payload == ip.payload
    assert [c.sid for c in r["sms_listed"]] == [sms.sid]
    # Two IP Commands in pages of one: the SDK followed next_page_url.
    assert [c.sid for c in r["ip_listed"]] == [ip.sid, r["text_ip"].sid]
    assert r["none_received"] == []  # nothing came from the Sim
    for refused in ("too_long", "no_port"):
        assert (r[refused].value.status, r[refused].value.code) == (400, 20001)
    assert (r["unknown_sim"].value.status, r["unknown_sim"].value.code) == (404, 20404)
    assert (r["missing"].value.status, r["missing"].value.code) == (404, 20404)


async def test_a_new_sim_cannot_receive_commands(stack, api):
    iccid, code = stack.card()
    sim = (await api.post("/v1/Sims", data={"Iccid": iccid, "RegistrationCode": code})).json()
    answer = await api.post("/v1/SmsCommands", data={"Sim": sim["sid"], "Payload": "p"})
    assert answer.status_code == 400 and "only a ready or active Sim" in answer.json()["message"]


async def test_another_accounts_commands_are_not_visible(stack, api, other_api):
    nap = (await api.post("/v1/NetworkAccessProfiles", data={})).json()
    fleet = (await api.post("/v1/Fleets", data={"NetworkAccessProfile": nap["sid"]})).json()
    iccid, code = stack.card()
    sim = (await api.post("/v1/Sims", data={"Iccid": iccid, "RegistrationCode": code})).json()
    await api.post(f"/v1/Sims/{sim['sid']}", data={"Fleet": fleet["sid"], "Status": "active"})
    sms = (await api.post("/v1/SmsCommands", data={"Sim": sim["sid"], "Payload": "p"})).json()
    assert (await other_api.get(f"/v1/SmsCommands/{sms['sid']}")).status_code == 404
    assert (await other_api.get("/v1/SmsCommands")).json()["sms_commands"] == []
    refused = await other_api.post("/v1/SmsCommands", data={"Sim": sim["sid"], "Payload": "p"})
    assert refused.status_code == 404


@pytest.mark.parametrize(
    ("path", "query"),
    [("/v1/SmsCommands", "Status=lost"), ("/v1/IpCommands", "Direction=sideways")],
)
async def test_list_filters_outside_their_values_are_refused(api, path, query):
    answer = await api.get(f"{path}?{query}")
    assert (answer.status_code, answer.json()["code"]) == (400, 20001)
