"""An Idempotency-Key is bound to its first request (method, path, form): the same request again
gets the first answer; any other request with that key is 422 20422 and changes nothing."""

from __future__ import annotations

import asyncio

import asyncpg

from tests.api.support import assert_error, create_fleet, create_profile
from tests.api.test_tenants_and_idempotency import _events_of
from tests.api.test_unavailable_and_pending import in_process


async def test_a_key_reused_on_another_fleet_is_422_and_leaves_that_fleet_unchanged(
    stack, api, account
):
    await create_profile(api, UniqueName="nap")
    first_fleet = await create_fleet(api, "nap", UniqueName="first", DataLimit=10)
    second_fleet = await create_fleet(api, "nap", UniqueName="second", DataLimit=10)
    headers = {"Idempotency-Key": "update-42"}
    form = {"DataLimit": 20}
    first = await api.post(f"/v1/Fleets/{first_fleet['sid']}", data=form, headers=headers)
    assert first.status_code == 200 and first.json()["data_limit"] == 20
    before = await _events_of(stack, account.sid)

    reused = await api.post(f"/v1/Fleets/{second_fleet['sid']}", data=form, headers=headers)
    body = assert_error(reused, 422, 20422)
    assert "Idempotency-Key" in body["message"]
    assert (await api.get(f"/v1/Fleets/{second_fleet['sid']}")).json() == second_fleet
    assert await _events_of(stack, account.sid) == before

    # The same request again still gets the first answer.
    again = await api.post(f"/v1/Fleets/{first_fleet['sid']}", data=form, headers=headers)
    assert again.status_code == 200 and again.json() == first.json()


async def test_a_key_reused_with_another_body_or_on_another_route_is_422(stack, api, account):
    await create_profile(api, UniqueName="nap")
    headers = {"Idempotency-Key": "create-7"}
    first = await api.post(
        "/v1/Fleets", data={"NetworkAccessProfile": "nap", "UniqueName": "a"}, headers=headers
    )
    assert first.status_code == 201
    before = await _events_of(stack, account.sid)

    other_body = {"NetworkAccessProfile": "nap", "UniqueName": "b"}
    assert_error(await api.post("/v1/Fleets", data=other_body, headers=headers), 422, 20422)
    other_route = await api.post(
        "/v1/NetworkAccessProfiles", data={"UniqueName": "c"}, headers=headers
    )
    assert_error(other_route, 422, 20422)
    assert await _events_of(stack, account.sid) == before
    assert [f["unique_name"] for f in (await api.get("/v1/Fleets")).json()["fleets"]] == ["a"]

    # The same parameters in another order are the same request.
    reordered = await api.post(
        "/v1/Fleets",
        content="UniqueName=a&NetworkAccessProfile=nap",
        headers={**headers, "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert reordered.status_code == 201 and reordered.json() == first.json()


async def test_two_first_uses_at_once_bind_the_key_to_one_of_them(api):
    await create_profile(api, UniqueName="nap")
    headers = {"Idempotency-Key": "race"}
    forms = [{"NetworkAccessProfile": "nap", "UniqueName": name} for name in ("left", "right")]
    responses = await asyncio.gather(
        *(api.post("/v1/Fleets", data=form, headers=headers) for form in forms)
    )
    assert sorted(r.status_code for r in responses) == [201, 422]
    [winner] = [r.json() for r in responses if r.status_code == 201]
    assert [f["sid"] for f in (await api.get("/v1/Fleets")).json()["fleets"]] == [winner["sid"]]


async def test_a_key_is_bound_for_every_api_process(stack, api, account):
    """The binding is in PostgreSQL: another API process (or this one restarted) knows it."""
    await create_profile(api, UniqueName="nap")
    headers = {"Idempotency-Key": "across-processes"}
    form = {"NetworkAccessProfile": "nap", "UniqueName": "x"}
    first = await api.post("/v1/Fleets", data=form, headers=headers)
    assert first.status_code == 201
    async with in_process(stack, account) as elsewhere:
        other = {"NetworkAccessProfile": "nap", "UniqueName": "y"}
        refused = await elsewhere.post("/v1/Fleets", data=other, headers=headers)
        assert_error(refused, 422, 20422)
        again = await elsewhere.post("/v1/Fleets", data=form, headers=headers)
        assert again.status_code == 201
        # The same Fleet; only its url's host differs (the other process's port).
        assert {**again.json(), "url": None} == {**first.json(), "url": None}


async def test_a_key_older_than_the_horizon_is_free_again(stack, api, account):
    await create_profile(api, UniqueName="nap")
    headers = {"Idempotency-Key": "yesterday"}
    first = await create_fleet_with(api, headers, UniqueName="old")
    # As if the key had been used a day and a minute ago (the horizon is 24 h).
    conn = await asyncpg.connect(stack.settings.database_url)
    try:
        aged = await conn.execute(
            "update idempotency_keys set created_at = created_at - interval '1441 minutes' "
            "where account_sid = $1",
            account.sid,
        )
    finally:
        await conn.close()
    assert aged == "UPDATE 1"
    second = await create_fleet_with(api, headers, UniqueName="new")
    assert second["sid"] != first["sid"]


async def create_fleet_with(api, headers: dict, **form) -> dict:
    response = await api.post(
        "/v1/Fleets", data={"NetworkAccessProfile": "nap", **form}, headers=headers
    )
    assert response.status_code == 201, response.text
    return response.json()
