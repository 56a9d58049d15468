"""A Sim's IpAddresses through the official twilio-python SDK and plain HTTP: none while it is
not active, one address of the account's pool once active, none again once inactive, the
changes in its history; another account's Sim and an unknown one are not found."""

from __future__ import annotations

import asyncio
import ipaddress

import pytest
from twilio.base.exceptions import TwilioException

from tests.api.support import assert_error, create_fleet, create_profile, register_sim
from tests.api.test_twilio_sdk import sdk

WAIT = 60  # seconds: the address comes a step after the activation's answer


async def addresses(api, sim: str) -> list[dict]:
    response = await api.get(f"/v1/Sims/{sim}/IpAddresses")
    assert response.status_code == 200, response.text
    return response.json()["ip_addresses"]


async def until_addresses(api, sim: str, count: int) -> list[dict]:
    """The Sim's addresses once there are `count` of them: the registry answers the activation
    in a step of its own, projected after the update's answer."""
    async with asyncio.timeout(WAIT):
        while len(found := await addresses(api, sim)) != count:  # noqa: ASYNC110
            await asyncio.sleep(0.1)  # the projection sends nothing: ask again
    return found


async def test_an_active_sim_has_an_address_of_its_pool_and_gives_it_back_when_inactive(
    stack, account, api, other_account
):
    v1 = sdk(stack, account).supersim.v1

    def setup():
        nap = v1.network_access_profiles.create(networks=stack.network_sids[:1])
        fleet = v1.fleets.create(network_access_profile=nap.sid)
        iccid, code = stack.card()
        sim = v1.sims.create(iccid=iccid, registration_code=code)
        new = v1.sims(sim.sid).sim_ip_addresses.list()
        v1.sims(sim.sid).update(fleet=fleet.sid, status="active", unique_name="addressed")
        return sim, new

    sim, new = await asyncio.to_thread(setup)
    assert new == []
    [shown] = await until_addresses(api, sim.sid, 1)

    def read():
        listed = v1.sims(sim.sid).sim_ip_addresses.list(page_size=1)
        by_name = v1.sims("addressed").sim_ip_addresses.list()
        others = sdk(stack, other_account).supersim.v1
        # A list page that is not 200 is raised as "Unable to fetch page" with the response.
        with pytest.raises(TwilioException) as elsewhere:
            others.sims(sim.sid).sim_ip_addresses.list()
        with pytest.raises(TwilioException) as unknown:
            v1.sims("HS" + "0" * 32).sim_ip_addresses.list()
        return listed, by_name, elsewhere.value.args[1], unknown.value.args[1]

    listed, by_name, elsewhere, unknown = await asyncio.to_thread(read)
    [address] = listed
    assert address.ip_address == shown["ip_address"]
    assert address.ip_address_version == "IPv4" == shown["ip_address_version"]
    assert ipaddress.ip_address(address.ip_address) in ipaddress.ip_network(stack.settings.ip_pools)
    assert [a.ip_address for a in by_name] == [address.ip_address]
    for refused in (elsewhere, unknown):  # another account's Sim, an unknown one
        assert refused.status_code == 404 and '"code":20404' in refused.text

    deactivated = await api.post(f"/v1/Sims/{sim.sid}", data={"Status": "inactive"})
    assert deactivated.status_code == 200, deactivated.text
    assert await until_addresses(api, sim.sid, 0) == []
    # The Sim's history says when it had which address.
    events = (await api.get(f"/v1/Sims/{sim.sid}/Events")).json()["events"]
    kinds = [e["type"] for e in events]
    assert kinds.index("SimIpAddressAssigned") < kinds.index("SimIpAddressReleased")
    [assigned] = [e for e in events if e["type"] == "SimIpAddressAssigned"]
    assert {"field": "ip_addresses", "old": [], "new": [address.ip_address]} in assigned["changes"]


async def test_the_list_is_a_page_like_every_list(stack, api):
    await create_profile(api, UniqueName="nap")
    await create_fleet(api, "nap", UniqueName="f")
    sim = await register_sim(api, stack)
    response = await api.get(f"/v1/Sims/{sim['sid']}/IpAddresses", params={"PageSize": 5})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["ip_addresses"] == []
    meta = body["meta"]
    assert meta["key"] == "ip_addresses" and meta["page_size"] == 5
    assert meta["url"].startswith(f"{stack.base_url}/v1/Sims/{sim['sid']}/IpAddresses?")
    assert meta["next_page_url"] is None and meta["previous_page_url"] is None
    bad = await api.get(f"/v1/Sims/{sim['sid']}/IpAddresses", params={"PageToken": "nope"})
    assert_error(bad, 400, 21481)
    assert_error(await api.get("/v1/Sims/no-such-sim/IpAddresses"), 404, 20404)


async def test_the_operation_is_in_the_openapi_document(api):
    document = (await api.get("/openapi.json")).json()
    operation = document["paths"]["/v1/Sims/{SimSid}/IpAddresses"]["get"]
    assert operation["operationId"] == "ListSimIpAddress"
    names = {p["name"] for p in operation["parameters"]}
    assert names == {"SimSid", "PageSize", "Page", "PageToken"}
