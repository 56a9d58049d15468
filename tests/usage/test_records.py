"""UsageRecords and a Sim's current usage, from the usage log through the usage projector into
PostgreSQL, queried as the API will."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta

import asyncpg
import msgspec
import pytest
from aiokafka import AIOKafkaProducer

from events.commands import CreateFleet, UpdateFleet, UpdateSim
from events.kafka_security import kafka_options
from events.usage import UsageBucket, UsageFacts, encode_facts
from services.domain.periods import BillingPeriod
from services.postgres import init_connection
from services.projection.changes import LogPosition, changes, coalesce
from services.projection.writer import write_changes
from services.usage.projector import USAGE_RECORDS, UsageProjector
from services.usage.records import (
    TOKEN_PATTERN,
    InvalidPageToken,
    NotFound,
    list_usage_records,
)
from services.usage.records_query import InvalidParameter, parse_usage_query
from services.usage.sim_usage import sim_data_usage
from tests.domain.support import ACCOUNT_A, ACCOUNT_B, World

MONTH = BillingPeriod.parse("month")
DAY1 = datetime(2026, 11, 10, tzinfo=UTC)
DAY2 = datetime(2026, 11, 11, tzinfo=UTC)
NOW = datetime(2026, 11, 20, tzinfo=UTC)


def logged(world: World) -> list[tuple]:
    """The World's events, each with the place it would have in a one-partition events topic
    (the event history records it)."""
    return [(e, LogPosition(0, i)) for i, e in enumerate(world.log)]


def bucket(world, sim, network, at: datetime, up: int, down: int, fleet=None, account=ACCOUNT_A):
    start = MONTH.start_of(at.timestamp())
    return UsageBucket(
        account_sid=account,
        sim_sid=sim,
        fleet_sid=fleet,
        network_sid=network,
        period_start=start,
        period_end=MONTH.end_of(start),
        hour=int(at.timestamp()) // 3600 * 3600,
        bytes_up=up,
        bytes_down=down,
        sessions=[f"s-{up}-{down}"],
    )


@pytest.fixture
async def usage_db(topics, migrated):
    """A World projected into Postgres and a usage log of known buckets, projected too."""
    settings = msgspec.structs.replace(topics, database_url=migrated)
    world = World()
    world.run(CreateFleet(network_access_profile="nap", unique_name="f2", data_limit=1))
    world.run(UpdateSim(sim=world.sim, fleet="fleet", unique_name="tracker"))
    us, gb = list(world.state.networks)  # both "US": make the second one look British
    conn = await asyncpg.connect(migrated)
    await init_connection(conn)
    async with conn.transaction():
        await write_changes(conn, coalesce(c for e, at in logged(world) for c in changes(e, at)))
        await conn.execute("update networks set iso_country = 'GB' where sid = $1", gb)
    await conn.close()
    fleet, f2 = world.account.fleet_names["fleet"], world.account.fleet_names["f2"]
    other_sim = "HS" + "b" * 32
    records = [
        UsageFacts(
            current_period=MONTH.start_of(NOW.timestamp()),
            buckets=[
                bucket(world, world.sim, us, DAY1 + timedelta(hours=1), 100, 1000, fleet),
                bucket(world, world.sim, gb, DAY1 + timedelta(hours=1), 10, 20, fleet),
                bucket(world, world.sim, us, DAY1 + timedelta(hours=5), 1, 2, fleet),
            ],
        ),
        UsageFacts(
            current_period=MONTH.start_of(NOW.timestamp()),
            buckets=[
                bucket(world, world.sim, us, DAY2 + timedelta(hours=3), 5, 5, f2),
                bucket(world, world.sim, us, DAY1 + timedelta(hours=1), 1, 1, fleet),  # adds up
                bucket(world, other_sim, us, DAY2, 7777, 7777, None, account=ACCOUNT_B),
            ],
        ),
    ]
    producer = AIOKafkaProducer(**kafka_options(settings.kafka_bootstrap))
    await producer.start()
    try:
        for record in records:
            await producer.send_and_wait(
                settings.usage_log_topic, encode_facts(record), partition=0
            )
    finally:
        await producer.stop()
    # Projected, stopped, started again: the second run must add nothing.
    for _ in range(2):
        await _project_until(settings, offset=len(records))
    conn = await asyncpg.connect(migrated)
    yield conn, world, {"us": us, "gb": gb, "fleet": fleet, "f2": f2}
    await conn.close()


async def _project_until(settings, offset: int) -> None:
    stop = asyncio.Event()
    task = asyncio.create_task(UsageProjector(settings).run(stop))
    conn = await asyncpg.connect(settings.database_url)
    try:
        sql = (
            "select next_offset from projection_offsets where projection = $1 "
            "and topic = $2 and partition = 0"
        )
        async with asyncio.timeout(30):
            while await conn.fetchval(sql, USAGE_RECORDS, settings.usage_log_topic) != offset:  # noqa: ASYNC110
                await asyncio.sleep(0.05)
    finally:
        await conn.close()
        stop.set()
        await task


def query(**params):
    return parse_usage_query({"StartTime": "2026-11-01", "EndTime": "2026-12-01", **params}, NOW)


async def test_all_usage_of_an_account_is_one_record_with_twilios_shape(usage_db):
    conn, world, _ = usage_db
    [record] = (await list_usage_records(conn, ACCOUNT_A, query())).records
    assert record == {
        "account_sid": ACCOUNT_A,
        "sim_sid": None,
        "fleet_sid": None,
        "network_sid": None,
        "iso_country": None,
        "period": {"start_time": "2026-11-01T00:00:00Z", "end_time": "2026-12-01T00:00:00Z"},
        "data_upload": 117,
        "data_download": 1028,
        "data_total": 1145,
        "data_total_billed": 0,
        "billed_unit": None,
    }


async def test_days_come_newest_first_with_their_own_periods(usage_db):
    conn, _, _ = usage_db
    records = (await list_usage_records(conn, ACCOUNT_A, query(Granularity="day"))).records
    assert [(r["period"]["start_time"], r["data_total"]) for r in records] == [
        ("2026-11-11T00:00:00Z", 10),
        ("2026-11-10T00:00:00Z", 1135),
    ]
    assert records[0]["period"]["end_time"] == "2026-11-12T00:00:00Z"


async def test_filters_by_sim_unique_name_network_fleet_and_country_fill_their_fields(usage_db):
    conn, world, n = usage_db
    [by_sim] = (await list_usage_records(conn, ACCOUNT_A, query(Sim="tracker"))).records
    assert by_sim["sim_sid"] == world.sim and by_sim["data_total"] == 1145
    [gb] = (await list_usage_records(conn, ACCOUNT_A, query(IsoCountry="GB"))).records
    assert (gb["iso_country"], gb["data_total"]) == ("GB", 30)
    [net] = (await list_usage_records(conn, ACCOUNT_A, query(Network=n["gb"]))).records
    assert (net["network_sid"], net["data_total"]) == (n["gb"], 30)
    [f2] = (await list_usage_records(conn, ACCOUNT_A, query(Fleet="f2"))).records
    assert (f2["fleet_sid"], f2["data_total"]) == (n["f2"], 10)


async def test_grouping_by_fleet_or_country_gives_one_record_per_value(usage_db):
    conn, _, n = usage_db
    records = (await list_usage_records(conn, ACCOUNT_A, query(Group="fleet"))).records
    assert {r["fleet_sid"]: r["data_total"] for r in records} == {n["fleet"]: 1135, n["f2"]: 10}
    records = (await list_usage_records(conn, ACCOUNT_A, query(Group="isoCountry"))).records
    assert {r["iso_country"]: r["data_total"] for r in records} == {"US": 1115, "GB": 30}
    assert all(r["sim_sid"] is None for r in records)


async def test_pages_follow_their_tokens_to_the_same_records_as_one_page(usage_db):
    conn, _, _ = usage_db
    hourly = query(Granularity="hour", Group="network")
    whole = (await list_usage_records(conn, ACCOUNT_A, hourly, page_size=100)).records
    pages, token = [], None
    while True:
        page = await list_usage_records(conn, ACCOUNT_A, hourly, page_size=1, page_token=token)
        pages += page.records
        token = page.next_page_token
        if token is None:
            break
    assert len(whole) == 4 and pages == whole


async def test_another_accounts_usage_and_sims_are_invisible(usage_db):
    conn, world, _ = usage_db
    [record] = (await list_usage_records(conn, ACCOUNT_B, query())).records
    assert record["data_total"] == 7777 * 2
    with pytest.raises(NotFound):
        await list_usage_records(conn, ACCOUNT_B, query(Sim=world.sim))
    assert await sim_data_usage(conn, ACCOUNT_B, world.sim, NOW, MONTH) is None


async def test_bad_parameters_and_page_tokens_are_refused():
    for params in (
        {"Granularity": "week"},
        {"Group": "account"},
        {"Network": "HX123"},
        {"StartTime": "yesterday"},
        {"StartTime": "2026-11-02", "EndTime": "2026-11-01"},
        {"Colour": "red"},
        # Each of these would otherwise fail later, in date arithmetic or in the database.
        {"StartTime": "0001-01-01T00:00:00+05:00"},
        {"EndTime": "0001-01-15"},
        {"EndTime": "9999-12-31T23:00:00"},
        {"IsoCountry": "ÉÉ"},
        {"Sim": "a\x00b"},
        {"Fleet": ""},
    ):
        with pytest.raises(InvalidParameter):
            parse_usage_query(params, NOW)
    defaults = parse_usage_query({}, NOW)
    assert (defaults.start_time, defaults.end_time) == (NOW - timedelta(days=31), NOW)
    assert defaults.granularity == "all"


async def test_a_forged_page_token_is_refused(usage_db):
    conn, _, _ = usage_db
    issued = (
        await list_usage_records(conn, ACCOUNT_A, query(Granularity="hour"), 1)
    ).next_page_token
    assert issued is not None
    assert re.fullmatch(TOKEN_PATTERN, issued)  # the shape our OpenAPI publishes
    forged = [
        "not-a-token",
        "",
        issued + "\n",
        issued.replace("PU", "PT", 1),  # a list token's prefix
        "PU-1_",  # before the epoch
        "PU1_a\x00b",  # NUL: PostgreSQL text refuses it
        "PU1_x",  # no group value has this shape
    ]
    for token in forged:
        with pytest.raises(InvalidPageToken):
            await list_usage_records(conn, ACCOUNT_A, query(), page_token=token)
    # Any token of the shape is a position, one past datetime's range included: no 500.
    for token in ("PU0_", "PU999999999999999999_US", "PU1_HS" + "0" * 32):
        await list_usage_records(conn, ACCOUNT_A, query(), page_token=token)


async def test_a_sims_fetch_shows_its_current_period_usage_and_data_state(usage_db):
    conn, world, _ = usage_db
    usage = await sim_data_usage(conn, ACCOUNT_A, world.sim, NOW, MONTH)
    assert usage == {
        "period": {"start_time": "2026-11-01T00:00:00Z", "end_time": "2026-12-01T00:00:00Z"},
        "data_upload": 117,
        "data_download": 1028,
        "data_total": 1145,
        "data_used_while_disabled": 0,
        "data_limit": 1000,
        "data_enabled": True,
        "data_suspended": False,
    }
    december = await sim_data_usage(conn, ACCOUNT_A, world.sim, NOW + timedelta(days=15), MONTH)
    assert december["data_total"] == 0
    assert december["period"]["start_time"] == "2026-12-01T00:00:00Z"


async def test_data_suspension_events_set_the_sims_data_state_in_the_read_model(usage_db):
    from events.commands import SuspendSimData

    conn, world, _ = usage_db
    start = len(world.log)
    world.run(UpdateFleet(fleet="fleet", data_limit=1))
    world.run(UpdateSim(sim=world.sim, status="active"))  # and its address's steps
    suspended = world.run(
        SuspendSimData(
            sim=world.sim,
            period_start=datetime(2026, 11, 1, tzinfo=UTC),
            period_end=datetime(2026, 12, 1, tzinfo=UTC),
            data_used=2_000_000,
            data_limit=1,
        )
    )
    await init_connection(conn)
    async with conn.transaction():
        await write_changes(
            conn, coalesce(c for e, at in logged(world)[start:] for c in changes(e, at))
        )
    usage = await sim_data_usage(conn, ACCOUNT_A, world.sim, NOW, MONTH)
    assert usage["data_suspended"] and usage["data_limit"] == 1
    version = await conn.fetchval("select version from sims where sid = $1", world.sim)
    assert version == suspended[0].aggregate_version
