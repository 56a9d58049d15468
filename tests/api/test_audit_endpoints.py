"""The audit over HTTP (an extension): a resource's events with old -> new values, and a
resource as it was at a moment (AsOf), for the caller's own resources only."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

from services.api.audit_routes import VERSION_TOKEN_PATTERN
from tests.api.support import (
    assert_error,
    clock_passes,
    create_fleet,
    create_profile,
    register_sim,
)


async def test_a_fleets_events_name_who_changed_its_data_limit_from_what_to_what(api, account):
    await create_profile(api, UniqueName="nap")
    fleet = await create_fleet(api, "nap", UniqueName="audited", DataLimit="5")
    updated = await api.post(f"/v1/Fleets/{fleet['sid']}", data={"DataLimit": "7"})
    assert updated.status_code == 200

    response = await api.get("/v1/Fleets/audited/Events")
    assert response.status_code == 200
    body = response.json()
    created, changed = body["events"]
    assert (created["type"], created["version"], created["created"]) == ("FleetCreated", 1, True)
    assert {"field": "data_limit", "old": None, "new": 5} in created["changes"]
    assert changed["type"] == "FleetDataLimitChanged" and changed["version"] == 2
    assert changed["changes"] == [{"field": "data_limit", "old": 5, "new": 7}]
    assert changed["actor"] == f"api:{account.sid}" and changed["resource_sid"] == fleet["sid"]
    assert body["meta"]["key"] == "events" and body["meta"]["next_page_url"] is None


async def test_events_come_in_keyset_pages_that_add_up_to_the_whole_history(api):
    await create_profile(api, UniqueName="nap")
    fleet = await create_fleet(api, "nap")
    for limit in range(2, 7):
        assert (await api.post(f"/v1/Fleets/{fleet['sid']}", data={"DataLimit": limit})).is_success
    versions, url = [], f"/v1/Fleets/{fleet['sid']}/Events?PageSize=2"
    while url:
        page = (await api.get(url)).json()
        versions += [event["version"] for event in page["events"]]
        url = page["meta"]["next_page_url"]
        if url:
            assert parse_qs(urlsplit(url).query)["PageSize"] == ["2"]
            token = parse_qs(urlsplit(url).query)["PageToken"][0]
            assert re.fullmatch(VERSION_TOKEN_PATTERN, token)  # as our OpenAPI says
    assert versions == [1, 2, 3, 4, 5, 6]
    assert_error(await api.get(f"/v1/Fleets/{fleet['sid']}/Events?PageToken=PVbad!"), 400, 21481)


async def test_a_sims_events_show_its_status_change_and_its_reason(api, stack):
    await create_profile(api, UniqueName="nap")
    await create_fleet(api, "nap", UniqueName="f")
    sim = await register_sim(api, stack)
    assert (
        await api.post(f"/v1/Sims/{sim['sid']}", data={"Fleet": "f", "Status": "ready"})
    ).is_success
    events = (await api.get(f"/v1/Sims/{sim['sid']}/Events")).json()["events"]
    assert [e["type"] for e in events] == [
        "SimRegistrationRequested",  # asked of the card registry, then recorded:
        "SimRegistered",
        "SimAssignedToFleet",
        "SimStatusChanged",
    ]
    status = events[-1]
    assert {"field": "status", "old": "new", "new": "ready"} in status["changes"]
    assert status["payload"]["reason"] == "requested"


async def test_as_of_a_moment_a_fleet_is_what_it_was_then_and_404_before_it_existed(api):
    await create_profile(api, UniqueName="nap")
    fleet = await create_fleet(api, "nap", DataLimit="5")
    await clock_passes(fleet["date_created"])  # the change happens a second after the creation
    assert (await api.post(f"/v1/Fleets/{fleet['sid']}", data={"DataLimit": "9"})).is_success
    created = datetime.fromisoformat(fleet["date_created"])

    then = await api.get(f"/v1/Fleets/{fleet['sid']}", params={"AsOf": fleet["date_created"]})
    assert then.status_code == 200 and then.json()["data_limit"] == 5
    now = await api.get(
        f"/v1/Fleets/{fleet['sid']}", params={"AsOf": datetime.now(UTC).isoformat()}
    )
    assert now.json()["data_limit"] == 9
    before = (created - timedelta(seconds=5)).isoformat()
    assert_error(await api.get(f"/v1/Fleets/{fleet['sid']}", params={"AsOf": before}), 404, 20404)
    assert_error(
        await api.get(f"/v1/Fleets/{fleet['sid']}", params={"AsOf": "yesterday"}), 400, 20001
    )


async def test_as_of_works_for_sims_and_profiles_by_sid_and_by_name(api, stack):
    profile = await create_profile(api, UniqueName="nap-then")
    sim = await register_sim(api, stack)
    await clock_passes(max(sim["date_updated"], profile["date_updated"]))
    moment = datetime.now(UTC).isoformat()
    assert (
        await api.post(
            f"/v1/NetworkAccessProfiles/{profile['sid']}", data={"UniqueName": "nap-now"}
        )
    ).is_success
    assert (await api.post(f"/v1/Sims/{sim['sid']}", data={"UniqueName": "named"})).is_success

    old_profile = await api.get("/v1/NetworkAccessProfiles/nap-then", params={"AsOf": moment})
    assert old_profile.status_code == 200 and old_profile.json()["sid"] == profile["sid"]
    assert old_profile.json()["unique_name"] == "nap-then"
    old_sim = await api.get(f"/v1/Sims/{sim['sid']}", params={"AsOf": moment})
    assert old_sim.status_code == 200 and old_sim.json()["unique_name"] is None


async def test_another_accounts_events_and_past_states_are_404(api, other_api):
    await create_profile(api, UniqueName="nap")
    fleet = await create_fleet(api, "nap", UniqueName="mine")
    for ref in (fleet["sid"], "mine"):
        assert_error(await other_api.get(f"/v1/Fleets/{ref}/Events"), 404, 20404)
        moment = datetime.now(UTC).isoformat()
        assert_error(await other_api.get(f"/v1/Fleets/{ref}", params={"AsOf": moment}), 404, 20404)
