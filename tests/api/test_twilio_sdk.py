"""The official twilio-python SDK, pointed at our API, works as it does against Twilio."""

from __future__ import annotations

import asyncio

import pytest
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client


def sdk(stack, account) -> Client:
    client = Client(account.sid, account.token)
    client.supersim.base_url = stack.base_url  # instead of https://supersim.twilio.com
    return client


def run_with_sdk(stack, account) -> dict:
    v1 = sdk(stack, account).supersim.v1
    nap = v1.network_access_profiles.create(unique_name="sdk-nap", networks=stack.network_sids[:2])
    fleet = v1.fleets.create(
        network_access_profile="sdk-nap", unique_name="sdk-fleet", data_limit=50
    )
    by_name = v1.fleets("sdk-fleet").fetch()
    updated = v1.fleets(fleet.sid).update(data_limit=75, sms_commands_url="https://example.com/sms")
    more = [v1.fleets.create(network_access_profile=nap.sid) for _ in range(4)]
    listed = list(v1.fleets.stream(network_access_profile="sdk-nap", page_size=2))
    first_page = v1.fleets.page(network_access_profile="sdk-nap", page_size=2)
    first_page_sids = [f.sid for f in first_page]
    second_page_sids = [f.sid for f in first_page.next_page()]
    iccid, code = stack.card()
    sim = v1.sims.create(iccid=iccid, registration_code=code)
    sim = v1.sims(sim.sid).update(fleet="sdk-fleet", status="active")
    active = v1.sims.list(status="active", fleet=fleet.sid, page_size=1)
    networks = v1.network_access_profiles(nap.sid).networks.list()
    catalogue = v1.networks.list(iso_country="US")
    with pytest.raises(TwilioRestException) as missing:
        v1.fleets("HF" + "0" * 32).fetch()
    with pytest.raises(TwilioRestException) as taken:
        v1.fleets.create(network_access_profile="sdk-nap", unique_name="sdk-fleet")
    with pytest.raises(TwilioRestException) as no_fleet:
        v1.sims(sim.sid).update(status="ready")
    return locals()


async def test_the_twilio_sdk_creates_fetches_updates_lists_and_raises_our_errors(stack, account):
    r = await asyncio.to_thread(run_with_sdk, stack, account)
    fleet, updated = r["fleet"], r["updated"]
    assert fleet.sid.startswith("HF") and fleet.account_sid == account.sid
    assert fleet.network_access_profile_sid == r["nap"].sid and fleet.data_limit == 50
    assert fleet.data_metering == "payg" and fleet.sms_commands_method == "POST"
    assert r["by_name"].sid == fleet.sid
    assert updated.data_limit == 75 and updated.sms_commands_url == "https://example.com/sms"
    # Five Fleets in pages of two: the SDK followed next_page_url twice, verbatim.
    assert [f.sid for f in r["listed"]] == [fleet.sid, *(f.sid for f in r["more"])]
    assert r["first_page_sids"] + r["second_page_sids"] == [f.sid for f in r["listed"][:4]]
    assert (r["sim"].status, r["sim"].fleet_sid) == ("active", fleet.sid)
    assert [s.sid for s in r["active"]] == [r["sim"].sid]
    assert sorted(n.sid for n in r["networks"]) == sorted(stack.network_sids[:2])
    assert {n.friendly_name for n in r["catalogue"]} == {"T-Mobile USA", "AT&T Mobility"}
    assert (r["missing"].value.status, r["missing"].value.code) == (404, 20404)
    assert (r["taken"].value.status, r["taken"].value.code) == (409, 20409)
    assert (r["no_fleet"].value.status, r["no_fleet"].value.code) == (400, 83010)


def wrong_token(stack, account):
    client = Client(account.sid, "not-the-token")
    client.supersim.base_url = stack.base_url
    with pytest.raises(TwilioRestException) as denied:
        client.supersim.v1.fleets("HF" + "0" * 32).fetch()
    return denied.value


async def test_the_twilio_sdk_with_a_wrong_token_gets_401_20003(stack, account):
    denied = await asyncio.to_thread(wrong_token, stack, account)
    assert (denied.status, denied.code) == (401, 20003)
