"""List pages, authentication, and the error shape for every kind of bad request."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import httpx

from services.api.pages import TOKEN_PATTERN
from tests.api.support import assert_error, create_profile


async def test_pages_follow_next_and_previous_urls_with_every_filter_and_page_size(stack, api):
    created = [await create_profile(api) for _ in range(7)]
    sids = [p["sid"] for p in created]
    first = (await api.get("/v1/NetworkAccessProfiles", params={"PageSize": 3})).json()
    meta = first["meta"]
    assert meta["page"] == 0 and meta["page_size"] == 3 and meta["previous_page_url"] is None
    assert meta["first_page_url"] == f"{stack.base_url}/v1/NetworkAccessProfiles?PageSize=3&Page=0"
    seen, page, pages = [], first, []
    while True:
        pages.append(page)
        seen += [p["sid"] for p in page["network_access_profiles"]]
        if page["meta"]["next_page_url"] is None:
            break
        assert page["meta"]["next_page_url"].startswith(stack.base_url)  # absolute
        page = (await api.get(page["meta"]["next_page_url"])).json()
    assert seen == sids and [p["meta"]["page"] for p in pages] == [0, 1, 2]
    for url in (pages[1]["meta"]["next_page_url"], pages[2]["meta"]["previous_page_url"]):
        assert re.fullmatch(TOKEN_PATTERN, parse_qs(urlsplit(url).query)["PageToken"][0])
    back = (await api.get(pages[2]["meta"]["previous_page_url"])).json()
    assert back["network_access_profiles"] == pages[1]["network_access_profiles"]
    assert back["meta"]["page"] == 1
    start = (await api.get(back["meta"]["previous_page_url"])).json()
    assert start["network_access_profiles"] == first["network_access_profiles"]
    assert start["meta"]["previous_page_url"] is None


async def test_page_parameters_are_checked(api):
    for params in ({"PageSize": 0}, {"PageSize": 1001}, {"PageSize": "x"}, {"Page": -1}):
        assert_error(await api.get("/v1/Fleets", params=params), 400, 20001)
    assert_error(await api.get("/v1/Fleets", params={"Page": 10**9 + 1}), 400, 20001)
    for token in ("garbage", "PTnotbase64!!", "PT" + "A" * 20, "PVa1_HF" + "0" * 32):
        assert_error(await api.get("/v1/Fleets", params={"PageToken": token}), 400, 21481)
    # Every token of the shape our OpenAPI publishes is a position in the caller's own rows,
    # one past datetime's range too; the page URLs it leads to carry tokens of that shape.
    sid = "HF" + "0" * 32
    for token in (f"PTa0_{sid}", f"PTb{'9' * 18}_{sid}~", f"PTa{'9' * 18}_{sid}~"):
        response = await api.get("/v1/Fleets", params={"PageToken": token})
        assert response.status_code == 200, token
        for url in (response.json()["meta"]["previous_page_url"], response.json()["meta"]["url"]):
            if url:
                assert re.fullmatch(TOKEN_PATTERN, parse_qs(urlsplit(url).query)["PageToken"][0])
    full = await api.get("/v1/Fleets", params={"PageSize": 1000})
    assert full.status_code == 200 and full.json()["meta"]["page_size"] == 1000


async def test_missing_or_wrong_credentials_are_401_20003(stack, account):
    async with httpx.AsyncClient(base_url=stack.base_url) as anonymous:
        for auth in (None, (account.sid, "wrong"), ("AC" + "0" * 32, ""), ("nobody", "x")):
            response = await anonymous.get("/v1/Fleets", auth=auth)
            assert_error(response, 401, 20003)
            assert response.headers["www-authenticate"].startswith("Basic")
        garbled = await anonymous.get("/v1/Fleets", headers={"Authorization": "Basic ***"})
        assert_error(garbled, 401, 20003)
        # Authentication comes before anything is looked at or changed.
        assert_error(await anonymous.post("/v1/Fleets", data={"Bad": "x"}), 401, 20003)


async def test_malformed_requests_are_4xx_twilio_errors_never_500(api):
    await create_profile(api, UniqueName="nap")
    json_body = await api.post("/v1/Fleets", json={"NetworkAccessProfile": "nap"})
    assert_error(json_body, 400, 20001)
    bad_utf8 = await api.post(
        "/v1/Fleets",
        content=b"NetworkAccessProfile=%ff%fe",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert bad_utf8.status_code in (400, 404) and bad_utf8.json()["code"] in (20001, 20404)
    raw = await api.post(
        "/v1/Fleets",
        content=b"\xff\xfe",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert_error(raw, 400, 20001)
    twice = await api.post(
        "/v1/Fleets",
        content=b"NetworkAccessProfile=nap&DataLimit=1&DataLimit=2",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert_error(twice, 400, 20001)
    nul = await api.post("/v1/Fleets", data={"NetworkAccessProfile": "nap", "UniqueName": "a\x00"})
    assert_error(nul, 400, 20001)
    assert_error(await api.get("/v1/Sims", params={"Iccid": "\x00"}), 400, 20001)
    for path in ("/v1/Sims/a%00b", "/v1/Fleets/a%00b/Events", "/v1/NetworkAccessProfiles/%00"):
        assert_error(await api.get(path), 400, 20001)
    assert (await api.post("/v1/Fleets", data={"NetworkAccessProfile": "nap"})).status_code == 201
    query_on_write = await api.post("/v1/Fleets?NetworkAccessProfile=nap")
    assert_error(query_on_write, 400, 20001)
    assert_error(await api.get("/v1/Nothing"), 404, 20404)
    assert_error(await api.delete("/v1/Fleets/x"), 405, 20004)
    assert_error(await api.get("/v1/Fleets/x", params={"Extra": "1"}), 400, 20001)
    huge = await api.post("/v1/Fleets", data={"NetworkAccessProfile": "x" * 100_000})
    assert huge.status_code in (400, 413) and set(huge.json()) == {
        "code",
        "message",
        "more_info",
        "status",
    }
