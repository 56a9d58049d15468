"""Oversized input: a body over the limit is 413, and no error echoes more than a short,
marked excerpt of what it was given (a 20 KB reference is not sent back)."""

from __future__ import annotations

from tests.api.support import assert_error, create_fleet, create_profile, register_sim

LONG = "x" * 20_000
ECHO_LIMIT = 200  # a whole message, with its excerpt of the input


def assert_short(body: dict) -> None:
    assert len(body["message"]) <= ECHO_LIMIT, body["message"][:300]
    assert "..." in body["message"], body["message"]


async def test_a_body_over_64_kb_is_413(api):
    big = {"NetworkAccessProfile": "nap", "UniqueName": "y" * 70_000}
    body = assert_error(await api.post("/v1/Fleets", data=big), 413, 20413)
    assert "65536" in body["message"] or "64 KB" in body["message"]


async def test_references_in_paths_are_echoed_capped(api):
    for path in (
        f"/v1/Fleets/{LONG}",
        f"/v1/Sims/{LONG}",
        f"/v1/NetworkAccessProfiles/{LONG}",
        f"/v1/NetworkAccessProfiles/{LONG}/Networks",
        f"/v1/Fleets/{LONG}/Events",
        f"/v1/Nothing/{LONG}",
    ):
        assert_short(assert_error(await api.get(path), 404, 20404))
    # A write's reference is the decider's to refuse; it caps its echo too.
    assert_short(assert_error(await api.post(f"/v1/Fleets/{LONG}", data={}), 404, 20404))


async def test_parameters_are_echoed_capped(stack, api):
    await create_profile(api, UniqueName="nap", Networks=stack.network_sids[:1])
    await create_fleet(api, "nap")
    sim = await register_sim(api, stack)
    refused = [
        (await api.post("/v1/Fleets", data={"NetworkAccessProfile": LONG}), 404, 20404),
        (await api.post("/v1/Fleets", data={LONG: "1"}), 400, 20001),
        (await api.get("/v1/Fleets", params={LONG: "1"}), 400, 20001),
        (await api.post(f"/v1/Sims/{sim['sid']}", data={"Fleet": LONG}), 400, 83006),
        (await api.post(f"/v1/Sims/{sim['sid']}", data={"AccountSid": LONG}), 400, 20001),
        (
            await api.post("/v1/NetworkAccessProfiles/nap/Networks", data={"Network": "HW" + LONG}),
            400,
            20001,
        ),
        (await api.get("/v1/UsageRecords", params={"Sim": LONG}), 404, 20404),
        (
            await api.post(
                "/v1/Fleets", content=b"a=1", headers={"Content-Type": "text/" + LONG[:4000]}
            ),
            400,
            20001,
        ),
    ]
    for response, status, code in refused:
        assert_short(assert_error(response, status, code))
