"""Sims over HTTP: registration from the inventory and the rules of the 830xx family.

83009 (a Fleet change while the Sim is `scheduled`) is not reachable over the API: the domain
never stores `scheduled` (the API only reports a pending change as scheduled), so it is proven
by the domain tests alone.
"""

from __future__ import annotations

import httpx

from services.operator import create_account
from tests.api.support import assert_error, create_fleet, create_profile, register_sim


async def test_a_registered_sim_starts_new_without_a_fleet(stack, api, account):
    iccid, code = stack.card()
    response = await api.post("/v1/Sims", data={"Iccid": iccid, "RegistrationCode": code})
    assert response.status_code == 201, response.text
    sim = response.json()
    assert sim["sid"].startswith("HS") and sim["account_sid"] == account.sid
    assert (sim["iccid"], sim["status"], sim["fleet_sid"], sim["unique_name"]) == (
        iccid,
        "new",
        None,
        None,
    )
    assert sim["url"] == f"{stack.base_url}/v1/Sims/{sim['sid']}" and sim["links"] == {}
    fetched = (await api.get(f"/v1/Sims/{sim['sid']}")).json()
    assert fetched.pop("data_usage")["data_total"] == 0  # the fetch's extension
    assert fetched == sim


async def test_registration_errors_are_83001_83002_and_83003(stack, api):
    iccid, code = stack.card()
    assert_error(await api.post("/v1/Sims", data={"Iccid": iccid}), 400, 83001)
    assert_error(await api.post("/v1/Sims", data={"RegistrationCode": code}), 400, 83001)
    assert_error(
        await api.post("/v1/Sims", data={"Iccid": iccid, "RegistrationCode": "WRONGCODE1"}),
        400,
        83002,
    )
    assert_error(
        await api.post("/v1/Sims", data={"Iccid": "8900000000000000000", "RegistrationCode": code}),
        400,
        83002,
    )
    first = await api.post("/v1/Sims", data={"Iccid": iccid, "RegistrationCode": code})
    again = await api.post("/v1/Sims", data={"Iccid": iccid, "RegistrationCode": code})
    body = assert_error(again, 400, 83003)
    assert first.json()["sid"] in body["message"]


async def test_a_sim_of_another_account_cannot_be_registered_and_its_existence_is_not_told(
    stack, api, other_api
):
    iccid, code = stack.card()
    await api.post("/v1/Sims", data={"Iccid": iccid, "RegistrationCode": code})
    response = await other_api.post("/v1/Sims", data={"Iccid": iccid, "RegistrationCode": code})
    assert_error(response, 400, 83002)


async def test_assign_then_activate_in_one_request_and_the_sim_follows_its_rules(stack, api):
    await create_profile(api, UniqueName="nap")
    fleet = await create_fleet(api, "nap", UniqueName="fleet")
    other = await create_fleet(api, "nap", UniqueName="other")
    sim = await register_sim(api, stack)
    url = f"/v1/Sims/{sim['sid']}"

    assert_error(await api.post(url, data={"Status": "active"}), 400, 83007)
    assert_error(await api.post(url, data={"Fleet": "no-such-fleet"}), 400, 83006)
    response = await api.post(
        url, data={"Fleet": "fleet", "Status": "ready", "CallbackUrl": "https://example.com/cb"}
    )
    assert response.status_code == 200, response.text
    ready = response.json()
    assert (ready["status"], ready["fleet_sid"]) == ("ready", fleet["sid"])
    assert ready["links"] == {"fleet": f"{stack.base_url}/v1/Fleets/{fleet['sid']}"}

    assert_error(await api.post(url, data={"Fleet": ""}), 400, 83008)
    moved = await api.post(url, data={"Fleet": other["sid"], "Status": "active"})
    assert moved.status_code == 200 and moved.json()["fleet_sid"] == other["sid"]
    assert_error(await api.post(url, data={"Status": "ready"}), 400, 83010)
    assert_error(await api.post(url, data={"Status": "new"}), 400, 20001)  # not an update value
    assert_error(await api.post(url, data={"Status": "sleeping"}), 400, 20001)
    assert_error(await api.post(url, data={"CallbackMethod": "PUT"}), 400, 20001)
    inactive = await api.post(url, data={"Status": "inactive"})
    assert inactive.json()["status"] == "inactive"
    same = await api.post(url, data={"Status": "inactive"})
    assert same.status_code == 200 and same.json() == inactive.json()


async def test_sim_names_are_unique_per_account_83011_and_fetchable(stack, api, other_api):
    first = await register_sim(api, stack)
    second = await register_sim(api, stack)
    named = await api.post(f"/v1/Sims/{first['sid']}", data={"UniqueName": "tracker 1"})
    assert named.status_code == 200 and named.json()["unique_name"] == "tracker 1"
    assert (await api.get("/v1/Sims/tracker%201")).json()["sid"] == first["sid"]
    assert_error(
        await api.post(f"/v1/Sims/{second['sid']}", data={"UniqueName": "tracker 1"}), 409, 83011
    )
    theirs = await register_sim(other_api, stack)  # names are per account
    response = await other_api.post(f"/v1/Sims/{theirs['sid']}", data={"UniqueName": "tracker 1"})
    assert response.status_code == 200


async def test_sims_are_listed_by_status_fleet_and_iccid(stack, api):
    await create_profile(api, UniqueName="nap")
    await create_fleet(api, "nap", UniqueName="fleet")
    a, b, c = [await register_sim(api, stack) for _ in range(3)]
    await api.post(f"/v1/Sims/{b['sid']}", data={"Fleet": "fleet", "Status": "active"})
    await api.post(f"/v1/Sims/{c['sid']}", data={"Fleet": "fleet"})

    def sids(response):
        assert response.status_code == 200, response.text
        return [s["sid"] for s in response.json()["sims"]]

    assert sids(await api.get("/v1/Sims", params={"Status": "new"})) == [a["sid"], c["sid"]]
    assert sids(await api.get("/v1/Sims", params={"Status": "active"})) == [b["sid"]]
    assert sids(await api.get("/v1/Sims", params={"Fleet": "fleet"})) == [b["sid"], c["sid"]]
    assert sids(await api.get("/v1/Sims", params={"Iccid": a["iccid"]})) == [a["sid"]]
    both = await api.get("/v1/Sims", params={"Fleet": "fleet", "Status": "new"})
    assert sids(both) == [c["sid"]]
    assert (
        "Fleet=fleet" in both.json()["meta"]["url"] and "Status=new" in both.json()["meta"]["url"]
    )
    assert_error(await api.get("/v1/Sims", params={"Colour": "red"}), 400, 20001)


async def test_a_new_sim_moves_to_a_subaccount_which_then_owns_it(
    stack, api, account, other_account
):
    sub = await create_account(stack.settings, "sub", parent=account.sid)
    sim = await register_sim(api, stack)
    await api.post(f"/v1/Sims/{sim['sid']}", data={"UniqueName": "moving"})
    moved = await api.post(f"/v1/Sims/{sim['sid']}", data={"AccountSid": sub.account_sid})
    assert moved.status_code == 200, moved.text
    assert (moved.json()["account_sid"], moved.json()["unique_name"]) == (sub.account_sid, "moving")
    assert (await api.get(f"/v1/Sims/{sim['sid']}")).status_code == 404  # not A's any more
    async with httpx.AsyncClient(
        base_url=stack.base_url, auth=(sub.account_sid, sub.auth_token), timeout=30
    ) as sub_api:
        fetched = (await sub_api.get(f"/v1/Sims/{sim['sid']}")).json()
        assert (fetched["sid"], fetched["status"]) == (sim["sid"], "new")
        events = (await sub_api.get(f"/v1/Sims/{sim['sid']}/Events")).json()["events"]
        assert events[-1]["type"] == "SimMovedIn"
    # Only to the account itself or a subaccount, only while new, and alone.
    other = await register_sim(api, stack)
    for not_a_subaccount in (other_account.sid, "AC" + "1" * 32):
        refused = await api.post(f"/v1/Sims/{other['sid']}", data={"AccountSid": not_a_subaccount})
        assert_error(refused, 400, 20001)
    both = {"AccountSid": sub.account_sid, "UniqueName": "x"}
    assert_error(await api.post(f"/v1/Sims/{other['sid']}", data=both), 400, 20001)
