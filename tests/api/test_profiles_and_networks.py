"""Network Access Profiles, their Networks sub-resource, and the Network catalogue."""

from __future__ import annotations

from tests.api.support import assert_error, create_profile


async def test_a_profile_is_created_with_networks_fetched_renamed_and_listed(stack, api, account):
    profile = await create_profile(api, UniqueName="iot", Networks=stack.network_sids[:2])
    sid = profile["sid"]
    assert sid.startswith("HA") and profile["account_sid"] == account.sid
    assert profile["url"] == f"{stack.base_url}/v1/NetworkAccessProfiles/{sid}"
    assert profile["links"] == {"networks": f"{profile['url']}/Networks"}
    assert (await api.get("/v1/NetworkAccessProfiles/iot")).json() == profile

    renamed = await api.post(f"/v1/NetworkAccessProfiles/{sid}", data={"UniqueName": "iot-eu"})
    assert renamed.status_code == 200 and renamed.json()["unique_name"] == "iot-eu"
    cleared = await api.post("/v1/NetworkAccessProfiles/iot-eu", data={"UniqueName": ""})
    assert cleared.status_code == 200 and cleared.json()["unique_name"] is None

    unnamed = await create_profile(api)
    listed = (await api.get("/v1/NetworkAccessProfiles")).json()
    assert [p["sid"] for p in listed["network_access_profiles"]] == [sid, unnamed["sid"]]
    assert listed["meta"]["key"] == "network_access_profiles"


async def test_profile_errors_are_409_for_a_taken_name_and_20001_for_a_foreign_network(api):
    await create_profile(api, UniqueName="taken")
    assert_error(
        await api.post("/v1/NetworkAccessProfiles", data={"UniqueName": "taken"}), 409, 20409
    )
    body = assert_error(
        await api.post("/v1/NetworkAccessProfiles", data={"Networks": "HW" + "1" * 32}), 400, 20001
    )
    assert "Networks" in body["message"]
    looks_like_sid = "HA" + "a" * 32
    assert_error(
        await api.post("/v1/NetworkAccessProfiles", data={"UniqueName": looks_like_sid}), 400, 20001
    )
    assert_error(await api.get("/v1/NetworkAccessProfiles/ghost"), 404, 20404)


async def test_networks_are_added_listed_fetched_and_removed_from_a_profile(stack, api):
    profile = await create_profile(api, UniqueName="nap", Networks=[stack.network_sids[0]])
    base = f"/v1/NetworkAccessProfiles/{profile['sid']}/Networks"
    added = await api.post(
        "/v1/NetworkAccessProfiles/nap/Networks", data={"Network": stack.network_sids[1]}
    )
    assert added.status_code == 201, added.text
    item = added.json()
    assert item["sid"] == stack.network_sids[1]
    assert item["network_access_profile_sid"] == profile["sid"]
    assert item["url"] == f"{stack.base_url}{base}/{item['sid']}"
    assert item["friendly_name"] == "AT&T Mobility" and item["iso_country"] == "US"
    assert item["identifiers"] == [{"mcc": "310", "mnc": "410"}]

    again = await api.post(base, data={"Network": stack.network_sids[1]})
    assert again.status_code == 200 and again.json() == item  # already there: nothing created

    listed = (await api.get(base)).json()
    assert [n["sid"] for n in listed["networks"]] == stack.network_sids[:2]
    assert listed["meta"]["key"] == "networks"
    assert (await api.get(f"{base}/{item['sid']}")).json() == item

    removed = await api.delete(f"{base}/{item['sid']}")
    assert removed.status_code == 204 and removed.content == b""
    assert_error(await api.delete(f"{base}/{item['sid']}"), 404, 20404)
    assert_error(await api.get(f"{base}/{item['sid']}"), 404, 20404)
    assert_error(await api.post(base, data={"Network": "HW" + "2" * 32}), 400, 20001)
    assert_error(await api.post(base, data={}), 400, 20001)
    assert_error(await api.get("/v1/NetworkAccessProfiles/ghost/Networks"), 404, 20404)


async def test_the_network_catalogue_is_listed_with_filters_and_fetched(stack, api):
    everything = (await api.get("/v1/Networks")).json()
    # Oldest first; other tests (the CLI's, the demo's) may have provisioned more since.
    assert [n["sid"] for n in everything["networks"]][:4] == stack.network_sids

    def names(response):
        assert response.status_code == 200, response.text
        return [n["friendly_name"] for n in response.json()["networks"]]

    assert names(await api.get("/v1/Networks", params={"IsoCountry": "US"})) == [
        "T-Mobile USA",
        "AT&T Mobility",
    ]
    assert names(await api.get("/v1/Networks", params={"Mcc": "310", "Mnc": "410"})) == [
        "AT&T Mobility"
    ]
    assert names(await api.get("/v1/Networks", params={"Mcc": "262"})) == ["Telekom Deutschland"]
    assert names(await api.get("/v1/Networks", params={"Mcc": "262", "Mnc": "410"})) == []
    fetched = (await api.get(f"/v1/Networks/{stack.network_sids[2]}")).json()
    assert fetched == {
        "sid": stack.network_sids[2],
        "friendly_name": "Vodafone UK",
        "iso_country": "GB",
        "identifiers": [{"mcc": "234", "mnc": "15"}],
        "url": f"{stack.base_url}/v1/Networks/{stack.network_sids[2]}",
    }
    assert_error(await api.get("/v1/Networks/HW" + "9" * 32), 404, 20404)
    assert_error(await api.post("/v1/Networks", data={"FriendlyName": "mine"}), 405, 20004)
