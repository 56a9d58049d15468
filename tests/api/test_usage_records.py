"""`GET /v1/UsageRecords` over HTTP: reports published with the UsageReporter, counted by the
usage processor, projected by the usage projector, read back as Twilio's UsageRecords.

One account's usage, set up once for the module: five reports (and a repeat of one) on two
Sims in two Fleets, on a US and a British Network, over three hours of the two days before today.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from twilio.rest import Client

from events.usage import DataSessionReport
from tests.api.support import (
    assert_error,
    clock_passes,
    create_fleet,
    create_profile,
    register_sim,
)

USAGE = "/v1/UsageRecords"


class World:
    def __init__(self, api: httpx.AsyncClient, account, today: datetime, sims: list[str]):
        self.api = api
        self.account = account
        self.today = today
        self.tracker, self.other = sims  # "tracker" in Fleet "big", the other in Fleet "other"
        self.start = today - timedelta(days=2)
        self.window = {"StartTime": _text(self.start), "EndTime": _text(today)}

    async def get(self, **params) -> dict:
        response = await self.api.get(USAGE, params={**self.window, **params})
        assert response.status_code == 200, response.text
        return response.json()

    async def totals(self, key: str, **params) -> dict:
        """{the record's `key` value: data_total} of a one-page answer."""
        return {r[key]: r["data_total"] for r in (await self.get(**params))["usage_records"]}


def _text(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _report(world_account: str, sim: str, network: str, end: datetime, up: int, down: int, sid):
    return DataSessionReport(
        session_id=sid,
        account_sid=world_account,
        sim=sim,
        network_sid=network,
        bytes_up=up,
        bytes_down=down,
        start_time=end - timedelta(minutes=5),
        end_time=end,
    )


async def wait_for_total(api: httpx.AsyncClient, params: dict, total: int, timeout=60) -> None:
    """Until the usage projector has what the usage processor counted."""
    deadline = time.monotonic() + timeout
    while True:
        response = await api.get(USAGE, params=params)
        assert response.status_code == 200, response.text
        if response.json()["usage_records"][0]["data_total"] == total:
            return
        assert time.monotonic() < deadline, response.text
        await asyncio.sleep(0.2)


@pytest.fixture(scope="module")
async def world(stack, reporter):
    account = await stack.make_account()
    async with httpx.AsyncClient(
        base_url=stack.base_url, auth=(account.sid, account.token), timeout=30
    ) as api:
        us, gb = stack.network_sids[0], stack.network_sids[2]  # T-Mobile USA, Vodafone UK
        await create_profile(api, UniqueName="nap", Networks=[us, gb])
        await create_fleet(api, "nap", UniqueName="big")
        await create_fleet(api, "nap", UniqueName="other")
        sims = []
        for name, fleet in (("tracker", "big"), ("meter", "other")):
            sim = await register_sim(api, stack)
            form = {"UniqueName": name, "Fleet": fleet, "Status": "active"}
            assert (await api.post(f"/v1/Sims/{sim['sid']}", data=form)).status_code == 200
            sims.append(sim["sid"])
        today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        day1, day2 = today - timedelta(days=2), today - timedelta(days=1)
        tracker, meter = sims
        a = account.sid
        reports = [
            _report(a, tracker, us, day1 + timedelta(hours=12, minutes=10), 100, 1000, "r1"),
            _report(a, tracker, gb, day1 + timedelta(hours=12, minutes=20), 10, 20, "r2"),
            _report(a, meter, us, day2 + timedelta(hours=10, minutes=10), 1, 2, "r3"),
            _report(a, meter, us, day2 + timedelta(hours=22, minutes=10), 5, 5, "r4"),
            _report(a, tracker, us, day2 + timedelta(hours=22, minutes=40), 7, 7, "r5"),
        ]
        reports.append(reports[0])  # a repeat of a session counts nothing
        await reporter.report_many(reports)
        world = World(api, account, today, sims)
        await wait_for_total(api, world.window, 1157)
        yield world


async def test_an_accounts_usage_in_a_window_is_one_record_in_twilios_shape(world, stack):
    page = await world.get()
    assert page["usage_records"] == [
        {
            "account_sid": world.account.sid,
            "sim_sid": None,
            "fleet_sid": None,
            "network_sid": None,
            "iso_country": None,
            "period": {"start_time": _text(world.start), "end_time": _text(world.today)},
            "data_upload": 123,
            "data_download": 1034,
            "data_total": 1157,  # r1 once, though it was reported twice
            "data_total_billed": 0.0,
            "billed_unit": None,
        }
    ]
    meta = page["meta"]
    assert (meta["key"], meta["page"], meta["page_size"]) == ("usage_records", 0, 50)
    assert meta["next_page_url"] is None and meta["previous_page_url"] is None
    assert (
        meta["url"]
        == meta["first_page_url"]
        == (
            f"{stack.base_url}{USAGE}?StartTime={world.window['StartTime'].replace(':', '%3A')}"
            f"&EndTime={world.window['EndTime'].replace(':', '%3A')}&PageSize=50&Page=0"
        )
    )


async def test_filters_narrow_the_usage_and_fill_their_fields(world, stack):
    [tracker] = (await world.get(Sim="tracker"))["usage_records"]  # by unique name
    assert (tracker["sim_sid"], tracker["data_total"]) == (world.tracker, 1100 + 30 + 14)
    [other] = (await world.get(Fleet="other"))["usage_records"]
    assert (other["fleet_sid"], other["data_total"], other["sim_sid"]) == (
        (await world.api.get("/v1/Fleets/other")).json()["sid"],
        3 + 10,
        None,
    )
    gb = stack.network_sids[2]
    [on_gb] = (await world.get(Network=gb))["usage_records"]
    assert (on_gb["network_sid"], on_gb["data_total"]) == (gb, 30)
    [in_gb] = (await world.get(IsoCountry="gb"))["usage_records"]
    assert (in_gb["iso_country"], in_gb["data_total"]) == ("GB", 30)
    [both] = (await world.get(Sim=world.other, Network=gb))["usage_records"]
    assert both["data_total"] == 0  # a filter that matches no usage still has its record


async def test_groups_and_granularities_split_the_usage(world):
    by_sim = await world.totals("sim_sid", Group="sim")
    assert by_sim == {world.tracker: 1144, world.other: 13}
    by_country = await world.totals("iso_country", Group="isoCountry")
    assert by_country == {"US": 1127, "GB": 30}
    days = (await world.get(Granularity="day"))["usage_records"]
    day1, day2 = world.start, world.start + timedelta(days=1)
    assert [
        (r["period"]["start_time"], r["period"]["end_time"], r["data_total"]) for r in days
    ] == [
        (_text(day2), _text(world.today), 3 + 10 + 14),  # newest first
        (_text(day1), _text(day2), 1100 + 30),
    ]
    hours = (await world.get(Granularity="hour", Group="sim"))["usage_records"]
    late = _text(day2 + timedelta(hours=22))
    assert [(r["period"]["start_time"], r["sim_sid"], r["data_total"]) for r in hours] == [
        *sorted([(late, world.tracker, 14), (late, world.other, 10)]),
        (_text(day2 + timedelta(hours=10)), world.other, 3),
        (_text(day1 + timedelta(hours=12)), world.tracker, 1130),
    ]


async def test_pages_follow_absolute_next_page_urls_that_repeat_every_filter(world, stack):
    filters = {"Granularity": "hour", "Group": "sim", "IsoCountry": "US"}
    whole = (await world.get(**filters, PageSize=100))["usage_records"]
    assert len(whole) == 4
    page = await world.get(**filters, PageSize=1)
    records = list(page["usage_records"])
    while page["meta"]["next_page_url"]:
        url = page["meta"]["next_page_url"]
        assert url.startswith(f"{stack.base_url}{USAGE}?")
        query = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
        assert query.items() >= {**filters, **world.window, "PageSize": "1"}.items(), query
        assert int(query["Page"]) == page["meta"]["page"] + 1
        response = await world.api.get(url)  # verbatim, as clients follow it
        assert response.status_code == 200, response.text
        page = response.json()
        records += page["usage_records"]
    assert records == whole and page["meta"]["page"] == 3


async def test_page_urls_pin_the_default_window_so_pages_do_not_move_with_the_clock(world):
    response = await world.api.get(USAGE, params={"Group": "sim", "PageSize": 1})
    first = response.json()
    end = parse_qs(urlsplit(first["meta"]["next_page_url"]).query)["EndTime"][0]
    assert abs(datetime.fromisoformat(end) - datetime.now(UTC)) < timedelta(minutes=1)
    start = parse_qs(urlsplit(first["meta"]["url"]).query)["StartTime"][0]
    assert datetime.fromisoformat(start) < datetime.fromisoformat(end) - timedelta(days=27)
    await clock_passes(end)  # the clock moves on; the next page does not
    second = (await world.api.get(first["meta"]["next_page_url"])).json()
    assert [r["sim_sid"] for r in first["usage_records"] + second["usage_records"]] == sorted(
        [world.tracker, world.other]
    )


def _list_with_the_sdk(stack, account, start: datetime, end: datetime) -> list:
    client = Client(account.sid, account.token)
    client.supersim.base_url = stack.base_url
    records = client.supersim.v1.usage_records.list(
        granularity="hour", group="sim", start_time=start, end_time=end, page_size=1
    )
    return [(r.period["start_time"], r.sim_sid, r.data_total) for r in records]


async def test_the_twilio_sdk_lists_usage_records_page_by_page(world, stack):
    expected = [
        (r["period"]["start_time"], r["sim_sid"], r["data_total"])
        for r in (await world.get(Granularity="hour", Group="sim"))["usage_records"]
    ]
    listed = await asyncio.to_thread(
        _list_with_the_sdk, stack, world.account, world.start, world.today
    )
    assert listed == expected and len(listed) == 4


async def test_bad_parameters_are_20001_unknown_sims_20404_and_bad_tokens_21481(world):
    for params in (
        {"Granularity": "week"},
        {"Group": "account"},
        {"Colour": "red"},
        {"Sim": ["tracker", "meter"]},
        {"PageSize": "0"},
        {"PageSize": "many"},
        {"Network": "HW123"},
        {"IsoCountry": "GBR"},
        {"StartTime": "yesterday"},
        {"StartTime": "2026-11-02", "EndTime": "2026-11-01"},
    ):
        assert_error(await world.api.get(USAGE, params=params), 400, 20001)
    assert_error(await world.api.get(USAGE, params={"Sim": "no-such-sim"}), 404, 20404)
    assert_error(await world.api.get(USAGE, params={"Fleet": "HF" + "0" * 32}), 404, 20404)
    sims_token = (await world.api.get("/v1/Sims", params={"PageSize": 1})).json()["meta"]
    for token in (
        "bogus",
        "",
        parse_qs(urlsplit(sims_token["next_page_url"]).query)["PageToken"][0],
    ):
        assert_error(await world.api.get(USAGE, params={"PageToken": token}), 400, 21481)
    async with httpx.AsyncClient(base_url=world.api.base_url) as anonymous:
        assert_error(await anonymous.get(USAGE), 401, 20003)


async def test_another_account_gets_404_for_these_sims_and_sees_none_of_this_usage(
    world, other_api, other_account
):
    for ref in (world.tracker, "tracker"):
        assert_error(await other_api.get(USAGE, params={"Sim": ref}), 404, 20404)
        assert_error(await other_api.get(f"/v1/Sims/{ref}"), 404, 20404)
    assert_error(await other_api.get(USAGE, params={"Fleet": "big"}), 404, 20404)
    theirs = await other_api.get(USAGE, params={**world.window, "Group": "sim"})
    assert theirs.status_code == 200 and theirs.json()["usage_records"] == []
    [total] = (await other_api.get(USAGE, params=world.window)).json()["usage_records"]
    assert (total["account_sid"], total["data_total"]) == (other_account.sid, 0)
