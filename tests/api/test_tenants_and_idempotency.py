"""Tenant isolation over every endpoint, and the Idempotency-Key."""

from __future__ import annotations

from services.log_reader import read_all
from tests.api.support import assert_error, create_fleet, create_profile, register_sim


async def _events_of(stack, account_sid: str) -> list[bytes]:
    records = await read_all(stack.settings.kafka_bootstrap, stack.settings.events_topic)
    return [r.value for rs in records.values() for r in rs if r.key == account_sid.encode()]


async def test_another_accounts_resources_are_404_everywhere_and_nothing_is_appended(
    stack, api, other_api, account, other_account
):
    profile = await create_profile(api, UniqueName="mine", Networks=[stack.network_sids[0]])
    fleet = await create_fleet(api, "mine", UniqueName="my-fleet")
    sim = await register_sim(api, stack)
    await api.post(f"/v1/Sims/{sim['sid']}", data={"UniqueName": "my-sim"})
    before = await _events_of(stack, account.sid), await _events_of(stack, other_account.sid)

    nap_networks = f"/v1/NetworkAccessProfiles/{profile['sid']}/Networks"
    for ref in (profile["sid"], "mine"):
        assert_error(await other_api.get(f"/v1/NetworkAccessProfiles/{ref}"), 404, 20404)
        assert_error(
            await other_api.post(f"/v1/NetworkAccessProfiles/{ref}", data={"UniqueName": "x"}),
            404,
            20404,
        )
    assert_error(await other_api.get(nap_networks), 404, 20404)
    assert_error(await other_api.get(f"{nap_networks}/{stack.network_sids[0]}"), 404, 20404)
    assert_error(
        await other_api.post(nap_networks, data={"Network": stack.network_sids[1]}), 404, 20404
    )
    assert_error(await other_api.delete(f"{nap_networks}/{stack.network_sids[0]}"), 404, 20404)
    for ref in (fleet["sid"], "my-fleet"):
        assert_error(await other_api.get(f"/v1/Fleets/{ref}"), 404, 20404)
        assert_error(await other_api.post(f"/v1/Fleets/{ref}", data={"DataLimit": 1}), 404, 20404)
    assert_error(
        await other_api.post("/v1/Fleets", data={"NetworkAccessProfile": profile["sid"]}),
        404,
        20404,
    )
    for ref in (sim["sid"], "my-sim"):
        assert_error(await other_api.get(f"/v1/Sims/{ref}"), 404, 20404)
        assert_error(await other_api.get(f"/v1/Sims/{ref}/IpAddresses"), 404, 20404)
        assert_error(
            await other_api.post(f"/v1/Sims/{ref}", data={"Status": "inactive"}), 404, 20404
        )

    lists = {
        "/v1/NetworkAccessProfiles": "network_access_profiles",
        "/v1/Fleets": "fleets",
        "/v1/Sims": "sims",
    }
    for path, key in lists.items():
        assert (await other_api.get(path)).json()[key] == []
    assert (await other_api.get("/v1/Fleets", params={"NetworkAccessProfile": "mine"})).json()[
        "fleets"
    ] == []
    assert (await other_api.get("/v1/Sims", params={"Iccid": sim["iccid"]})).json()["sims"] == []
    assert (await other_api.get("/v1/Sims", params={"Fleet": fleet["sid"]})).json()["sims"] == []
    # The catalogue is the one thing every account shares.
    shared = {n["sid"] for n in (await other_api.get("/v1/Networks")).json()["networks"]}
    assert set(stack.network_sids) <= shared

    after = await _events_of(stack, account.sid), await _events_of(stack, other_account.sid)
    assert after == before
    # And the owner still sees everything unchanged.
    assert (await api.get(f"/v1/Fleets/{fleet['sid']}")).json() == fleet


async def test_the_same_idempotency_key_returns_the_first_answer_and_changes_nothing(
    stack, api, account
):
    await create_profile(api, UniqueName="nap")
    headers = {"Idempotency-Key": "create-fleet-42"}
    form = {"NetworkAccessProfile": "nap", "UniqueName": "once"}
    first = await api.post("/v1/Fleets", data=form, headers=headers)
    again = await api.post("/v1/Fleets", data=form, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    listed = (await api.get("/v1/Fleets")).json()["fleets"]
    assert [f["sid"] for f in listed] == [first.json()["sid"]]
    created = [e for e in await _events_of(stack, account.sid) if b'"FleetCreated"' in e]
    assert len(created) == 1

    # Without the key, the same request is another write (here: refused, the name is taken).
    assert_error(await api.post("/v1/Fleets", data=form), 409, 20409)
    # A rejection is remembered too: the same key answers the same error.
    bad = {"Idempotency-Key": "bad-one"}
    one = await api.post("/v1/Fleets", data={"NetworkAccessProfile": "ghost"}, headers=bad)
    two = await api.post("/v1/Fleets", data={"NetworkAccessProfile": "ghost"}, headers=bad)
    assert assert_error(one, 404, 20404) == assert_error(two, 404, 20404)


async def test_two_accounts_using_the_same_idempotency_key_get_two_resources(api, other_api):
    headers = {"Idempotency-Key": "shared-key"}
    mine = await api.post("/v1/NetworkAccessProfiles", data={"UniqueName": "a"}, headers=headers)
    theirs = await other_api.post(
        "/v1/NetworkAccessProfiles", data={"UniqueName": "b"}, headers=headers
    )
    assert mine.status_code == theirs.status_code == 201
    assert mine.json()["sid"] != theirs.json()["sid"]
    assert theirs.json()["unique_name"] == "b"
