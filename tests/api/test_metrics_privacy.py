"""/metrics is not on the public API port, and what it serves on its own port names no account
and no resource: after requests from several accounts, no label value holds a SID."""

from __future__ import annotations

import re

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.api.support import create_profile

SID = re.compile(r"[A-Z]{2}[0-9a-fA-F]{32}")


async def test_metrics_are_not_served_on_the_public_api_port(stack, api):
    async with httpx.AsyncClient(base_url=stack.base_url) as http:
        assert (await http.get("/metrics")).status_code == 404
    async with httpx.AsyncClient() as http:
        scraped = await http.get(stack.metrics_url)
    assert scraped.status_code == 200
    assert "fleetstate_api_requests_total" in scraped.text


async def test_no_metric_label_carries_an_account_or_resource_sid(stack):
    accounts = [await stack.make_account() for _ in range(3)]
    sids = set()
    for account in accounts:
        sids.add(account.sid)
        async with httpx.AsyncClient(
            base_url=stack.base_url, auth=(account.sid, account.token), timeout=30
        ) as http:
            profile = await create_profile(http, UniqueName="metrics")
            sids.add(profile["sid"])
            await http.get(f"/v1/NetworkAccessProfiles/{profile['sid']}")
            await http.get(f"/v1/NetworkAccessProfiles/{profile['sid']}/Networks")
            await http.get(f"/v1/Sims/{account.sid}")  # a SID in a path that finds nothing
            await http.get(f"/v1/{account.sid}/Anything")  # a route that does not exist
            await http.post("/v1/Fleets", data={"NetworkAccessProfile": profile["sid"]})
        async with httpx.AsyncClient(base_url=stack.base_url, auth=(account.sid, "wrong")) as bad:
            await bad.get("/v1/Fleets")  # 401s are counted too
    async with httpx.AsyncClient() as http:
        text = (await http.get(stack.metrics_url)).text
    values = {
        value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        for value in sample.labels.values()
    }
    assert "/v1/NetworkAccessProfiles/{sid}" in str(values)  # the requests were counted
    assert not [value for value in values if SID.search(value)], values
    assert not [value for value in values if any(sid in value for sid in sids)]
