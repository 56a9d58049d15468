"""History from the event-history read model: exactly a resource's events, in order, with the
right old and new values, for its account only, by SID or name, in keyset pages."""

from __future__ import annotations

import asyncpg
import msgspec
import pytest

from services.audit.field_changes import history_entries
from services.audit.history import history, history_page
from services.audit.resources import ESIM_PROFILE, FLEET, PROFILE, SETTINGS_UPDATE, SIM
from tests.audit.support import fleetstate
from tests.domain.support import ACCOUNT_A, ACCOUNT_B


@pytest.fixture
async def conn(audited):
    conn = await asyncpg.connect(audited.settings.database_url)
    yield conn
    await conn.close()


def changed(entry) -> dict:
    return {c.field: (c.old, c.new) for c in entry.changes}


async def test_a_fleets_history_is_its_events_in_order_with_who_changed_what(audited, conn):
    fleet = audited.sids["fleet"]
    entries = await history(conn, ACCOUNT_A, FLEET, fleet)
    assert [e.event_id for e in entries] == [e.event_id for e, _ in audited.events_of(fleet)]
    assert [e.aggregate_version for e in entries] == list(range(1, len(entries) + 1))
    limits = [(e.actor, changed(e)["data_limit"]) for e in entries if "data_limit" in changed(e)]
    assert limits == [
        ("test", (None, 100)),
        ("alice", (100, 250)),
        ("alice", (250, 500)),
        ("alice", (500, 1000)),
    ]
    [rename] = [e for e in entries if e.type == "FleetRenamed"]
    assert rename.actor == "bob" and changed(rename) == {"unique_name": ("fleet", "fleet-old")}
    assert all(e.log_partition is not None and e.log_offset is not None for e in entries)


async def test_the_history_equals_the_one_folded_from_the_log_itself(audited, conn):
    kinds = (("fleet", FLEET), ("sim", SIM), ("profile", PROFILE), ("esim", ESIM_PROFILE))
    for role, kind in (*kinds, ("settings_update", SETTINGS_UPDATE)):
        aggregate_id = audited.sids[role]
        from_table = await history(conn, ACCOUNT_A, kind, aggregate_id)
        assert from_table == history_entries(audited.events_of(aggregate_id)), role


async def test_an_esim_profiles_history_shows_its_status_moving_forward(audited, conn):
    entries = await history(conn, ACCOUNT_A, ESIM_PROFILE, audited.sids["esim"])
    statuses = [changed(e)["status"] for e in entries]
    assert statuses == [
        (None, "new"),
        ("new", "reserving"),
        ("reserving", "available"),
        ("available", "downloaded"),
    ]
    available = changed(entries[2])
    assert available["iccid"][1] == "8988307000000000017" and available["sim_sid"][0] is None


async def test_a_name_means_its_current_carrier_or_else_its_last_one(audited, conn):
    [now] = {e.aggregate_id for e in await history(conn, ACCOUNT_A, FLEET, "fleet")}
    assert now == audited.sids["new_fleet"]  # "fleet" was renamed, then taken again
    [old] = {e.aggregate_id for e in await history(conn, ACCOUNT_A, FLEET, "fleet-old")}
    assert old == audited.sids["fleet"]
    [profile] = {e.aggregate_id for e in await history(conn, ACCOUNT_A, PROFILE, "nap")}
    assert profile == audited.sids["profile"]  # renamed away and never taken again


async def test_another_accounts_resource_is_not_found(audited, conn):
    assert await history(conn, ACCOUNT_B, FLEET, audited.sids["fleet"]) is None
    assert await history(conn, ACCOUNT_B, FLEET, "fleet-old") is None
    [b_fleet] = {e.aggregate_id for e in await history(conn, ACCOUNT_B, FLEET, "fleet")}
    assert b_fleet == audited.sids["b_fleet"]
    assert await history(conn, ACCOUNT_A, SIM, audited.sids["fleet"]) is None  # wrong kind


async def test_keyset_pages_add_up_to_the_whole_history_with_the_same_old_values(audited, conn):
    fleet = audited.sids["fleet"]
    whole = await history(conn, ACCOUNT_A, FLEET, fleet)
    pages, after = [], 0
    while after is not None:
        page = await history_page(
            conn, ACCOUNT_A, FLEET, "fleet-old", page_size=3, after_version=after
        )
        assert len(page.entries) <= 3
        pages.append(page)
        after = page.next_after_version
    assert [e for page in pages for e in page.entries] == whole
    assert len(pages) == -(-len(whole) // 3)
    assert await history_page(conn, ACCOUNT_B, FLEET, fleet) is None


async def test_the_history_command_prints_json_and_a_table(audited):
    fleet = audited.sids["fleet"]
    code, output = await fleetstate(
        audited.settings, "history", "fleet-old", "--account", ACCOUNT_A, "--json"
    )
    assert code == 0, output
    printed = msgspec.json.decode(output)
    assert [e["event_id"] for e in printed] == [e.event_id for e, _ in audited.events_of(fleet)]
    code, output = await fleetstate(audited.settings, "history", fleet, "--account", ACCOUNT_A)
    assert code == 0 and "data_limit: 100 -> 250" in output and "alice" in output, output
    code, output = await fleetstate(audited.settings, "history", fleet, "--account", ACCOUNT_B)
    assert code == 1 and "no resource" in output


async def test_a_sims_history_shows_its_address_and_a_pool_with_none_free(audited, conn):
    """`fleetstate history` of B's Sims: the one address taken and given back, and the Sim
    that found the pool full, with the reason; the address's own history names both."""
    b_sim, b_sim_2 = audited.sids["b_sim"], audited.sids["b_sim_2"]
    entries = await history(conn, ACCOUNT_B, SIM, b_sim)
    addressed = [
        changed(e)["ip_addresses"]
        for e in entries
        if "ip_addresses" in changed(e) and not e.created
    ]
    assert addressed == [([], ["10.99.0.7"]), (["10.99.0.7"], [])]
    code, output = await fleetstate(audited.settings, "history", b_sim_2, "--account", ACCOUNT_B)
    assert code == 0, output
    assert "SimIpAddressUnavailable" in output and "10.99.0.7/32 has no free address" in output
    code, output = await fleetstate(
        audited.settings, "history", "10.99.0.7", "--account", ACCOUNT_B
    )
    assert code == 0, output
    assert "IpAddressAllocated" in output and "IpAddressReleased" in output


async def test_a_settings_updates_history_shows_each_status_the_network_reported(audited, conn):
    update = audited.sids["settings_update"]
    entries = await history(conn, ACCOUNT_A, SETTINGS_UPDATE, update)
    assert [e.type for e in entries] == [
        "SettingsUpdateScheduled",
        "SettingsUpdateStatusChanged",
        "SettingsUpdateStatusChanged",
    ]
    assert [changed(e)["status"] for e in entries] == [
        (None, "scheduled"),
        ("scheduled", "in-progress"),
        ("in-progress", "successful"),
    ]
    completed = changed(entries[-1])["date_completed"]
    assert (entries[-1].actor, completed[0], completed[1] is not None) == ("network", None, True)
    assert await history(conn, ACCOUNT_B, SETTINGS_UPDATE, update) is None
