"""Settings Updates through the API, driven by the official twilio-python SDK against the whole
stack, the network gateway and the network simulator included: scheduled when a change reaches
a Sim's settings, moved on as the network reports, listed with Twilio's filters, and nobody
else's to see."""

from __future__ import annotations

import asyncio
import time

import msgspec
import pytest

from services.domain.decide_settings import networks_version
from tests.api.support import assert_error
from tests.api.test_twilio_sdk import sdk
from tests.audit.support import fleetstate

WAIT = 90.0


def until(read, done, what: str):
    """`read()` again until `done(value)`: each read waits on the stack, never on a guess."""
    deadline = time.monotonic() + WAIT
    while True:
        value = read()
        if done(value):
            return value
        assert time.monotonic() < deadline, f"{what}: {value}"
        time.sleep(0.2)


def assigned_sim(stack, v1, fleet, name: str):
    iccid, code = stack.card()
    sim = v1.sims.create(iccid=iccid, registration_code=code)
    return v1.sims(sim.sid).update(fleet=fleet.sid, unique_name=name)


def assign_and_follow(stack, account) -> dict:
    v1 = sdk(stack, account).supersim.v1
    nap = v1.network_access_profiles.create(networks=stack.network_sids[:1])
    fleet = v1.fleets.create(network_access_profile=nap.sid)
    sim = assigned_sim(stack, v1, fleet, "settings-sim")
    [update] = until(
        lambda: v1.settings_updates.list(sim="settings-sim"),
        lambda found: found and found[0].status == "successful",
        "the update never succeeded",
    )
    successful = v1.settings_updates.list(status="successful")
    scheduled = v1.settings_updates.list(sim=sim.sid, status="scheduled")
    unknown_sim = v1.settings_updates.list(sim="no-such-sim")
    return locals()


async def test_assigning_a_sim_to_a_fleet_schedules_an_update_the_network_completes(
    stack, account, device_services
):
    r = await asyncio.to_thread(assign_and_follow, stack, account)
    update, sim, nap = r["update"], r["sim"], r["nap"]
    assert update.sid.startswith("OB") and (update.sim_sid, update.iccid) == (sim.sid, sim.iccid)
    [package] = update.packages
    assert package["name"] == nap.sid and len(package["version"]) == 12
    assert package["more_info"].endswith(f"/v1/NetworkAccessProfiles/{nap.sid}/Networks")
    assert update.date_completed is not None and update.date_completed >= update.date_created
    assert [u.sid for u in r["successful"]] == [update.sid]  # the Status filter
    assert r["scheduled"] == [] and r["unknown_sim"] == []
    # scheduled -> in-progress -> successful, as the network reported it, in its history.
    code, output = await fleetstate(
        stack.settings, "history", update.sid, "--account", account.sid, "--json"
    )
    assert code == 0, output
    statuses = [
        change["new"]
        for entry in msgspec.json.decode(output)
        for change in entry["changes"]
        if change["field"] == "status"
    ]
    assert statuses == ["scheduled", "in-progress", "successful"]


def add_network_to_a_shared_profile(stack, account) -> dict:
    v1 = sdk(stack, account).supersim.v1
    nap = v1.network_access_profiles.create(networks=stack.network_sids[:1])
    elsewhere = v1.network_access_profiles.create(networks=stack.network_sids[:1])
    fleets = [v1.fleets.create(network_access_profile=nap.sid) for _ in range(2)]
    apart = v1.fleets.create(network_access_profile=elsewhere.sid)
    concerned = [
        assigned_sim(stack, v1, fleet, f"shared-{n}")
        for n, fleet in enumerate([fleets[0], fleets[0], fleets[1]])
    ]
    other = assigned_sim(stack, v1, apart, "apart")
    v1.network_access_profiles(nap.sid).networks.create(network=stack.network_sids[1])

    def per_sim():
        return {s.sid: v1.settings_updates.list(sim=s.sid) for s in [*concerned, other]}

    found = until(
        per_sim,
        lambda by_sim: all(len(by_sim[s.sid]) == 2 for s in concerned),
        "the new Network never reached every Sim",
    )
    return locals()


async def test_adding_a_network_schedules_one_for_each_sim_of_each_fleet_using_the_profile(
    stack, account, device_services
):
    r = await asyncio.to_thread(add_network_to_a_shared_profile, stack, account)
    found, nap, networks = r["found"], r["nap"], stack.network_sids[:2]
    # The package's version follows the Networks: the one the Sims had, then both.
    before, after = networks_version(networks[:1]), networks_version(networks)
    for sim in r["concerned"]:
        assert sorted(u.packages[0]["version"] for u in found[sim.sid]) == sorted([before, after])
        assert {u.packages[0]["name"] for u in found[sim.sid]} == {nap.sid}
    assert len(found[r["other"].sid]) == 1  # its profile did not change


async def test_another_account_sees_none_of_them(stack, api, other_api):
    nap = (await api.post("/v1/NetworkAccessProfiles", data={})).json()
    fleet = (await api.post("/v1/Fleets", data={"NetworkAccessProfile": nap["sid"]})).json()
    iccid, code = stack.card()
    sim = (await api.post("/v1/Sims", data={"Iccid": iccid, "RegistrationCode": code})).json()
    assert (await api.post(f"/v1/Sims/{sim['sid']}", data={"Fleet": fleet["sid"]})).is_success
    mine = (await api.get("/v1/SettingsUpdates", params={"Sim": sim["sid"]})).json()
    assert [u["sim_sid"] for u in mine["settings_updates"]] == [sim["sid"]]
    theirs = await other_api.get("/v1/SettingsUpdates")
    assert theirs.status_code == 200 and theirs.json()["settings_updates"] == []
    by_sim = await other_api.get("/v1/SettingsUpdates", params={"Sim": sim["sid"]})
    assert by_sim.json()["settings_updates"] == []


@pytest.mark.parametrize(
    ("query", "status", "code"),
    [
        ({"Status": "done"}, 400, 20001),
        ({"Status": "Successful"}, 400, 20001),
        ({"Colour": "red"}, 400, 20001),
        ({"PageSize": "0"}, 400, 20001),
        ({"PageToken": "not-ours"}, 400, 21481),
    ],
)
async def test_bad_filter_values_are_refused(api, query, status, code):
    assert_error(await api.get("/v1/SettingsUpdates", params=query), status, code)


async def test_pages_follow_the_keyset_and_repeat_the_filters(stack, api):
    nap = (await api.post("/v1/NetworkAccessProfiles", data={})).json()
    fleet = (await api.post("/v1/Fleets", data={"NetworkAccessProfile": nap["sid"]})).json()
    sims = []
    for _ in range(3):
        iccid, code = stack.card()
        sim = (await api.post("/v1/Sims", data={"Iccid": iccid, "RegistrationCode": code})).json()
        assert (await api.post(f"/v1/Sims/{sim['sid']}", data={"Fleet": fleet["sid"]})).is_success
        sims.append(sim["sid"])
    seen, url = [], "/v1/SettingsUpdates?PageSize=2"
    while url:
        page = (await api.get(url)).json()
        assert page["meta"]["key"] == "settings_updates" and page["meta"]["page_size"] == 2
        seen += [u["sim_sid"] for u in page["settings_updates"]]
        url = page["meta"]["next_page_url"]
    assert sorted(seen) == sorted(sims)


async def test_the_openapi_document_lists_them_with_their_filters(stack, api):
    document = (await api.get("/openapi.json")).json()
    operation = document["paths"]["/v1/SettingsUpdates"]["get"]
    assert operation["operationId"] == "ListSettingsUpdate"  # Twilio's
    parameters = {p["name"]: p["schema"] for p in operation["parameters"]}
    assert list(parameters) == ["Sim", "Status", "PageSize", "Page", "PageToken"]
    assert parameters["Status"]["enum"] == ["scheduled", "in-progress", "successful", "failed"]
    update = document["components"]["schemas"]["SettingsUpdate"]
    assert set(update["properties"]) == {
        "sid",
        "iccid",
        "sim_sid",
        "status",
        "packages",
        "date_completed",
        "date_created",
        "date_updated",
    }
