"""A Sim's BillingPeriods through the official twilio-python SDK: none while it is new, the
period of now once it is ready or active, typed by the most it was, bounded as UsageRecords'
periods are; another account's Sim is not found."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

import pytest
from twilio.base.exceptions import TwilioException

from services.domain.periods import BillingPeriod
from tests.api.support import clock_passes
from tests.api.test_twilio_sdk import sdk


def this_period(stack) -> tuple[datetime, datetime]:
    period = BillingPeriod.parse(stack.settings.billing_period)
    start = period.start_of(datetime.now(UTC).timestamp())
    return datetime.fromtimestamp(start, UTC), datetime.fromtimestamp(period.end_of(start), UTC)


async def test_a_sims_billing_periods_follow_its_status(stack, account, api, other_account):
    def run():
        v1 = sdk(stack, account).supersim.v1
        nap = v1.network_access_profiles.create(networks=stack.network_sids[:1])
        fleet = v1.fleets.create(network_access_profile=nap.sid)
        iccid, code = stack.card()
        sim = v1.sims.create(iccid=iccid, registration_code=code)
        new = v1.sims(sim.sid).billing_periods.list()
        v1.sims(sim.sid).update(fleet=fleet.sid, status="ready", unique_name="billed")
        ready = v1.sims(sim.sid).billing_periods.list()
        # Activated a second later at least: AsOf names whole seconds.
        asyncio.run(clock_passes(ready[0].date_updated.isoformat()))
        v1.sims(sim.sid).update(status="active")
        active = v1.sims("billed").billing_periods.list()  # by unique name too
        others = sdk(stack, other_account).supersim.v1
        with pytest.raises(TwilioException) as elsewhere:
            others.sims(sim.sid).billing_periods.list()
        with pytest.raises(TwilioException) as unknown:
            v1.sims("HS" + "0" * 32).billing_periods.list()
        return sim, new, ready, active, elsewhere.value, unknown.value

    sim, new, ready, active, elsewhere, unknown = await asyncio.to_thread(run)
    start, end = this_period(stack)
    assert new == []
    (period,) = ready
    assert (period.period_type, period.start_time, period.end_time) == ("ready", start, end)
    assert (period.sim_sid, period.account_sid) == (sim.sid, sim.account_sid)
    assert period.sid.startswith("HB") and len(period.sid) == 34
    (same,) = active  # the same period, now active: it was active in it
    assert (same.sid, same.period_type) == (period.sid, "active")
    assert same.date_created == period.date_created <= same.date_updated
    # As they stood when it was ready (our AsOf extension, as on the Sim's fetch).
    then = period.date_updated.strftime("%Y-%m-%dT%H:%M:%SZ")
    answer = await api.get(f"/v1/Sims/{sim.sid}/BillingPeriods", params={"AsOf": then})
    assert answer.status_code == 200, answer.text
    assert [p["period_type"] for p in answer.json()["billing_periods"]] == ["ready"]
    for refused in (elsewhere, unknown):  # twilio-python's lists raise with the response
        response = refused.args[1]
        assert (response.status_code, json.loads(response.text)["code"]) == (404, 20404)
