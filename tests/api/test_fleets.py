"""Fleets over HTTP: the founding resource of the contract."""

from __future__ import annotations

import re

from tests.api.support import assert_error, create_fleet, create_profile

ISO_Z = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")


async def test_a_created_fleet_has_the_contract_defaults_and_is_readable_at_once(
    stack, api, account
):
    profile = await create_profile(api, UniqueName="nap")
    fleet = await create_fleet(api, "nap")
    assert fleet["sid"].startswith("HF") and len(fleet["sid"]) == 34
    assert fleet["account_sid"] == account.sid
    assert fleet["network_access_profile_sid"] == profile["sid"]
    assert (fleet["unique_name"], fleet["data_enabled"], fleet["data_limit"]) == (None, True, 1000)
    assert fleet["data_metering"] == "payg"
    for prefix in ("", "sms_"):
        assert fleet[f"{prefix}commands_enabled"] is True
        assert fleet[f"{prefix}commands_url"] is None
        assert fleet[f"{prefix}commands_method"] == "POST"
    assert (fleet["ip_commands_url"], fleet["ip_commands_method"]) == (None, "POST")
    assert ISO_Z.fullmatch(fleet["date_created"]) and ISO_Z.fullmatch(fleet["date_updated"])
    assert fleet["url"] == f"{stack.base_url}/v1/Fleets/{fleet['sid']}"
    fetched = await api.get(f"/v1/Fleets/{fleet['sid']}")
    assert fetched.status_code == 200 and fetched.json() == fleet


async def test_a_fleet_is_fetched_by_its_url_decoded_unique_name(api):
    await create_profile(api, UniqueName="nap")
    fleet = await create_fleet(api, "nap", UniqueName="Pilot Fleet #1")
    response = await api.get("/v1/Fleets/Pilot%20Fleet%20%231")
    assert response.status_code == 200 and response.json()["sid"] == fleet["sid"]


async def test_both_spellings_of_sms_commands_are_accepted_and_written_with_equal_values(api):
    await create_profile(api, UniqueName="nap")
    fleet = await create_fleet(
        api,
        "nap",
        CommandsEnabled="FALSE",
        SmsCommandsUrl="https://example.com/sms",
        CommandsMethod="GET",
        IpCommandsUrl="http://example.com/ip",
        DataEnabled="false",
    )
    assert fleet["commands_enabled"] is fleet["sms_commands_enabled"] is False
    assert fleet["commands_url"] == fleet["sms_commands_url"] == "https://example.com/sms"
    assert fleet["commands_method"] == fleet["sms_commands_method"] == "GET"
    assert fleet["ip_commands_url"] == "http://example.com/ip" and fleet["data_enabled"] is False

    conflicting = await api.post(
        "/v1/Fleets",
        data={
            "NetworkAccessProfile": "nap",
            "CommandsUrl": "https://a.com",
            "SmsCommandsUrl": "https://b.com",
        },
    )
    assert_error(conflicting, 400, 20001)


async def test_an_update_changes_what_it_names_and_answers_the_new_state(api):
    await create_profile(api, UniqueName="nap")
    other = await create_profile(api, UniqueName="other")
    fleet = await create_fleet(api, "nap", UniqueName="f")
    response = await api.post(
        "/v1/Fleets/f",
        data={
            "UniqueName": "renamed",
            "DataLimit": "2000000",
            "NetworkAccessProfile": "other",
            "SmsCommandsUrl": "https://example.com/x",
            "IpCommandsMethod": "get",
        },
    )
    assert response.status_code == 200, response.text
    updated = response.json()
    assert updated["sid"] == fleet["sid"] and updated["unique_name"] == "renamed"
    assert updated["data_limit"] == 2_000_000
    assert updated["network_access_profile_sid"] == other["sid"]
    assert updated["commands_url"] == updated["sms_commands_url"] == "https://example.com/x"
    assert updated["ip_commands_method"] == "GET"
    assert (await api.get("/v1/Fleets/renamed")).json() == updated
    assert_error(await api.get("/v1/Fleets/f"), 404, 20404)


async def test_an_update_that_changes_nothing_answers_200_with_the_resource_unchanged(api):
    await create_profile(api, UniqueName="nap")
    fleet = await create_fleet(api, "nap", UniqueName="same", DataLimit="7")
    response = await api.post(f"/v1/Fleets/{fleet['sid']}", data={"DataLimit": "7"})
    assert response.status_code == 200 and response.json() == fleet
    empty = await api.post(f"/v1/Fleets/{fleet['sid']}")
    assert empty.status_code == 200 and empty.json() == fleet


async def test_immutable_fields_are_refused_naming_the_field_and_the_way_out(api):
    await create_profile(api, UniqueName="nap")
    fleet = await create_fleet(api, "nap")
    for field in ("DataEnabled", "CommandsEnabled", "SmsCommandsEnabled"):
        body = assert_error(
            await api.post(f"/v1/Fleets/{fleet['sid']}", data={field: "false"}), 400, 20001
        )
        assert field in body["message"] and "create a new Fleet" in body["message"]
    body = assert_error(
        await api.post(f"/v1/Fleets/{fleet['sid']}", data={"DataMetering": "payg"}), 400, 20001
    )
    assert "DataMetering" in body["message"]


async def test_bad_fleet_parameters_are_400_20001_naming_them(api):
    await create_profile(api, UniqueName="nap")
    cases = [
        ({"NetworkAccessProfile": "nap", "Colour": "red"}, "Colour"),
        ({}, "NetworkAccessProfile"),
        ({"NetworkAccessProfile": "nap", "DataLimit": "lots"}, "DataLimit"),
        ({"NetworkAccessProfile": "nap", "DataLimit": "0"}, "DataLimit"),
        ({"NetworkAccessProfile": "nap", "DataLimit": "2000001"}, "DataLimit"),
        ({"NetworkAccessProfile": "nap", "DataEnabled": "yes"}, "DataEnabled"),
        ({"NetworkAccessProfile": "nap", "CommandsUrl": "ftp://x"}, "CommandsUrl"),
        ({"NetworkAccessProfile": "nap", "IpCommandsMethod": "PUT"}, "IpCommandsMethod"),
        ({"NetworkAccessProfile": "nap", "UniqueName": "x" * 65}, "UniqueName"),
    ]
    for form, named in cases:
        body = assert_error(await api.post("/v1/Fleets", data=form), 400, 20001)
        assert named in body["message"], (form, body)


async def test_a_duplicate_fleet_name_is_409_20409_and_an_unknown_profile_404(api):
    await create_profile(api, UniqueName="nap")
    await create_fleet(api, "nap", UniqueName="taken")
    assert_error(
        await api.post("/v1/Fleets", data={"NetworkAccessProfile": "nap", "UniqueName": "taken"}),
        409,
        20409,
    )
    assert_error(await api.post("/v1/Fleets", data={"NetworkAccessProfile": "nope"}), 404, 20404)
    assert_error(await api.get("/v1/Fleets/HF" + "0" * 32), 404, 20404)
    assert_error(await api.post("/v1/Fleets/missing", data={"DataLimit": "5"}), 404, 20404)


async def test_fleets_are_listed_by_network_access_profile_sid_or_name(stack, api):
    first = await create_profile(api, UniqueName="first")
    await create_profile(api, UniqueName="second")
    a = await create_fleet(api, "first")
    b = await create_fleet(api, "second")
    c = await create_fleet(api, "first")
    by_sid = (await api.get("/v1/Fleets", params={"NetworkAccessProfile": first["sid"]})).json()
    assert [f["sid"] for f in by_sid["fleets"]] == [a["sid"], c["sid"]]
    by_name = (await api.get("/v1/Fleets", params={"NetworkAccessProfile": "second"})).json()
    assert [f["sid"] for f in by_name["fleets"]] == [b["sid"]]
    assert by_name["meta"]["url"] == (
        f"{stack.base_url}/v1/Fleets?NetworkAccessProfile=second&PageSize=50&Page=0"
    )
    unknown = (await api.get("/v1/Fleets", params={"NetworkAccessProfile": "ghost"})).json()
    assert unknown["fleets"] == []
    everything = (await api.get("/v1/Fleets")).json()
    assert [f["sid"] for f in everything["fleets"]] == [a["sid"], b["sid"], c["sid"]]
