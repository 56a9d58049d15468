"""Replay: the read models rebuilt from the log alone equal the live projector's, row by row;
--verify names every row that differs; --until gives the state the fold gives at a moment."""

from __future__ import annotations

import asyncpg
import msgspec
import pytest

from events.event_types import EVENT_TYPES
from services.audit.fold import Fold
from services.audit.replay import ReplayError, replay
from services.log_reader import read_all
from services.postgres import init_connection
from services.projection.snapshot import snapshot
from services.projection.tables import TABLES
from tests.audit.support import copied_topic, fleetstate


async def snapshots(dsn: str, *schemas: str) -> list[dict[str, list[tuple]]]:
    conn = await asyncpg.connect(dsn)
    try:
        await init_connection(conn)
        return [await snapshot(conn, schema) for schema in schemas]
    finally:
        await conn.close()


async def schema_indexes(dsn: str, schema: str) -> set[tuple[str, str]]:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "select indexname, replace(indexdef, $1, '') as definition from pg_indexes "
            "where schemaname = $2",
            f"{schema}.",
            schema,
        )
    finally:
        await conn.close()
    return {(row["indexname"], row["definition"]) for row in rows}


def fold_rows(fold: Fold) -> dict[str, list[tuple]]:
    """The fold's rows as snapshot() reads them back: in key order, jsonb as plain values."""

    def plain(column: str, value):
        return msgspec.to_builtins(value) if column == "payload" else value

    out = {}
    for table in TABLES:
        rows = fold.tables.get(table.name, {})
        out[table.name] = [
            tuple(plain(c, rows[key].get(c)) for c in table.columns) for key in sorted(rows)
        ]
    return out


# Steps a healthy run never takes (a transfer the card's partition refuses needs a card owned
# by another Sim than the one moving): tests/domain/test_card_registry.py decides them.
NEVER_IN_A_HEALTHY_RUN = {"SimMoveRefused"}


async def test_the_audited_log_holds_every_event_type(audited):
    assert {e.type for e, _ in audited.log} == set(EVENT_TYPES) - NEVER_IN_A_HEALTHY_RUN


async def test_a_replay_of_the_whole_log_equals_the_live_read_models_row_by_row(audited):
    report = await replay(audited.settings, "replayed", verify_against="public")
    assert report.differences == []
    assert report.events == len(audited.log) and report.skipped == []
    assert report.rows["event_history"] == len(audited.log)
    live, replayed = await snapshots(audited.settings.database_url, "public", "replayed")
    assert live == replayed  # the same, read back independently of the comparison
    # Sims: A's three (one moved to a subaccount), one an eSIM Profile's ICCID, B's two.
    assert len(live["fleets"]) == 3 and len(live["sims"]) == 6
    assert len(live["esim_profiles"]) == 2
    # sim-1 holds its address; B's one address went back to the registry
    assert len(live["sim_ip_addresses"]) == 1 and len(live["ip_addresses"]) == 2
    # Replay builds the indexes after the rows: the same ones the migrations make.
    assert await schema_indexes(audited.settings.database_url, "replayed") == await schema_indexes(
        audited.settings.database_url, "public"
    )


async def test_verify_names_every_row_that_differs_and_the_command_exits_1(audited):
    dsn = audited.settings.database_url
    await replay(audited.settings, "doctored")  # carries tracking rows: it can act as live
    fleet, sim = audited.sids["fleet"], audited.sids["sim"]
    [(event, _)] = audited.events_of(fleet)[1:2]
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("update doctored.fleets set data_limit = 7 where sid = $1", fleet)
        await conn.execute("delete from doctored.event_history where event_id = $1", event.event_id)
        await conn.execute(
            "insert into doctored.sims select 'HS' || repeat('0', 32), account_sid, unique_name, "
            "iccid, status, fleet_sid, callback_url, callback_method, version, date_created, "
            "date_updated from doctored.sims where sid = $1",
            sim,
        )
    finally:
        await conn.close()
    report = await replay(audited.settings, "checked", verify_against="doctored")
    found = {(d.table, tuple(d.key.values()), d.kind) for d in report.differences}
    assert found == {
        ("fleets", (fleet,), "differs"),
        ("event_history", (event.event_id,), "only_replayed"),
        ("sims", ("HS" + "0" * 32,), "only_live"),
    }
    [fleet_difference] = [d for d in report.differences if d.table == "fleets"]
    assert [(c.column, c.live, c.replayed) for c in fleet_difference.columns] == [
        ("data_limit", 7, 1000)
    ]

    code, output = await fleetstate(
        audited.settings, "replay", "--into", "by_cli", "--verify", "--live-schema", "doctored"
    )
    assert code == 1, output
    assert f"fleets [sid={fleet}]: data_limit: live 7, replay 1000" in output
    assert "3 rows differ from doctored" in output

    code, output = await fleetstate(audited.settings, "replay", "--into", "equal", "--verify")
    assert code == 0, output
    assert "the replay equals public" in output


async def test_a_replay_until_a_moment_equals_the_fold_of_the_log_up_to_it(audited):
    moments = sorted({e.occurred_at for e, _ in audited.log})
    at = moments[len(moments) // 2]
    report = await replay(audited.settings, "past", until=at)
    expected = Fold(until=at).apply_all(audited.log)
    assert 0 < report.events == expected.applied < len(audited.log)
    [past] = await snapshots(audited.settings.database_url, "past")
    assert past == fold_rows(expected)
    conn = await asyncpg.connect(audited.settings.database_url)
    try:  # a past state is no position to resume projecting from
        assert await conn.fetchval("select count(*) from past.projection_offsets") == 0
    finally:
        await conn.close()


async def test_a_replay_refuses_the_live_schema_and_a_schema_that_holds_tables(audited):
    with pytest.raises(ReplayError, match="live schema"):
        await replay(audited.settings, "public")
    await replay(audited.settings, "taken")
    with pytest.raises(ReplayError, match="already holds"):
        await replay(audited.settings, "taken")
    report = await replay(audited.settings, "taken", replace=True)
    assert report.events == len(audited.log)


async def test_an_event_appended_twice_fails_the_replay_by_name_and_leaves_no_schema(audited):
    settings = audited.settings
    records = await read_all(settings.kafka_bootstrap, settings.events_topic)
    busiest = [(r.key, r.value) for r in max(records.values(), key=len)]
    topic = await copied_topic(settings, [*busiest, busiest[3]])
    doubled = msgspec.structs.replace(settings, events_topic=topic)
    event_id = msgspec.json.decode(busiest[3][1])["event_id"]
    with pytest.raises(ReplayError, match=f"event {event_id} appears twice"):
        await replay(doubled, "doubled")
    conn = await asyncpg.connect(settings.database_url)
    try:
        gone = await conn.fetchval(
            "select count(*) = 0 from information_schema.schemata where schema_name = 'doubled'"
        )
    finally:
        await conn.close()
    assert gone
