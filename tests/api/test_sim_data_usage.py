"""The Sim fetch's extension `data_usage`: the current billing period's usage and data state,
from reports through the usage processor, the command processor and both projectors."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

from twilio.rest import Client

from events.usage import DataSessionReport
from services.domain.periods import BillingPeriod, as_datetime
from tests.api.support import create_fleet, create_profile, register_sim


async def fetch_when(api, url: str, done, timeout: float = 60) -> dict:
    """The fetched Sim once `done(sim)` holds."""
    deadline = time.monotonic() + timeout
    while True:
        response = await api.get(url)
        assert response.status_code == 200, response.text
        sim = response.json()
        if done(sim):
            return sim
        assert time.monotonic() < deadline, sim
        await asyncio.sleep(0.2)


def report(account: str, sim: str, network: str, session: str, bytes_down: int):
    now = datetime.now(UTC)
    return DataSessionReport(
        session_id=session,
        account_sid=account,
        sim=sim,
        network_sid=network,
        bytes_up=0,
        bytes_down=bytes_down,
        start_time=now,
        end_time=now,
    )


def fetch_with_the_sdk(stack, account, sid: str):
    client = Client(account.sid, account.token)
    client.supersim.base_url = stack.base_url
    return client.supersim.v1.sims(sid).fetch()


async def test_a_sims_fetch_shows_its_period_usage_and_data_suspended_past_its_fleets_limit(
    stack, api, account, reporter
):
    network = stack.network_sids[0]
    await create_profile(api, UniqueName="nap", Networks=[network])
    fleet = await create_fleet(api, "nap", UniqueName="one-mb", DataLimit=1)
    sim = await register_sim(api, stack)
    url = f"/v1/Sims/{sim['sid']}"
    form = {"Fleet": "one-mb", "Status": "active"}
    assert (await api.post(url, data=form)).status_code == 200

    fresh = (await api.get(url)).json()
    month = BillingPeriod.parse("month")  # FLEETSTATE_BILLING_PERIOD of the test stack
    start = month.start_of(time.time())
    assert fresh["data_usage"] == {
        "period": {
            "start_time": as_datetime(start).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "end_time": as_datetime(month.end_of(start)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        },
        "data_upload": 0,
        "data_download": 0,
        "data_total": 0,
        "data_used_while_disabled": 0,
        "data_limit": 1,
        "data_enabled": True,
        "data_suspended": False,
    }

    await reporter.report(report(account.sid, sim["sid"], network, "s1", 600_000))
    under = await fetch_when(api, url, lambda s: s["data_usage"]["data_total"] == 600_000)
    assert not under["data_usage"]["data_suspended"]

    await reporter.report(report(account.sid, sim["iccid"], network, "s2", 500_000))  # by ICCID
    over = await fetch_when(api, url, lambda s: s["data_usage"]["data_suspended"])
    assert over["data_usage"]["data_total"] == 1_100_000 and over["status"] == "active"
    assert over["fleet_sid"] == fleet["sid"]

    # Lists stay as Twilio has them (a usage query per Sim would be an N+1).
    [listed] = (await api.get("/v1/Sims", params={"Iccid": sim["iccid"]})).json()["sims"]
    assert "data_usage" not in listed
    assert {**listed, "data_usage": over["data_usage"]} == over
    # twilio-python builds the Sim from the properties it knows and ignores ours.
    parsed = await asyncio.to_thread(fetch_with_the_sdk, stack, account, sim["sid"])
    assert (parsed.sid, parsed.status, parsed.fleet_sid) == (sim["sid"], "active", fleet["sid"])
