"""As of a moment: at each event boundary, a resource is what the fold of the log gives there;
before it existed it is not found; a name means what carried it then."""

from __future__ import annotations

from datetime import timedelta

import asyncpg
import msgspec
import pytest

from services.audit.as_of import resource_as_of
from services.audit.fold import Fold
from services.audit.resources import (
    ESIM_PROFILE,
    FLEET,
    PROFILE,
    SETTINGS_UPDATE,
    SIM,
    resource_view,
)
from tests.audit.support import fleetstate
from tests.domain.support import ACCOUNT_A, ACCOUNT_B


@pytest.fixture
async def conn(audited):
    conn = await asyncpg.connect(audited.settings.database_url)
    yield conn
    await conn.close()


async def test_at_each_event_boundary_a_resource_is_the_fold_of_its_events_up_to_it(audited, conn):
    checked = 0
    kinds = (("fleet", FLEET), ("sim", SIM), ("profile", PROFILE), ("esim", ESIM_PROFILE))
    for role, kind in (*kinds, ("settings_update", SETTINGS_UPDATE)):
        aggregate_id = audited.sids[role]
        events = audited.events_of(aggregate_id)
        for k, (event, _) in enumerate(events):
            # Events of one command share their moment: the boundary is after the last.
            upto = [pair for pair in events if pair[0].occurred_at <= event.occurred_at]
            assert upto[: k + 1] == events[: k + 1]
            expected = resource_view(Fold().apply_all(upto).tables, kind, aggregate_id)
            found = await resource_as_of(conn, ACCOUNT_A, kind, aggregate_id, event.occurred_at)
            assert found == expected, (role, event.type)
            assert found["version"] == upto[-1][0].aggregate_version
            checked += 1
    assert checked >= 15


async def test_before_it_was_created_a_resource_is_not_found(audited, conn):
    fleet = audited.sids["fleet"]
    [(created, _), *_] = audited.events_of(fleet)
    before = created.occurred_at - timedelta(microseconds=1)
    assert await resource_as_of(conn, ACCOUNT_A, FLEET, fleet, before) is None
    assert await resource_as_of(conn, ACCOUNT_B, FLEET, fleet, created.occurred_at) is None


async def test_a_name_means_the_resource_that_carried_it_at_that_moment(audited, conn):
    fleet, new_fleet = audited.sids["fleet"], audited.sids["new_fleet"]
    [(created, _), *_] = audited.events_of(fleet)
    then = await resource_as_of(conn, ACCOUNT_A, FLEET, "fleet", created.occurred_at)
    assert then["sid"] == fleet and then["data_limit"] == 100
    last = max(e.occurred_at for e, _ in audited.log)
    now = await resource_as_of(conn, ACCOUNT_A, FLEET, "fleet", last)
    assert now["sid"] == new_fleet
    profile = await resource_as_of(conn, ACCOUNT_A, PROFILE, "nap-2", last)
    assert profile["networks"] == [audited.sids["network_2"]]


async def test_the_as_of_command_prints_the_resource_as_it_was(audited):
    fleet = audited.sids["fleet"]
    [_, (limited, _), *_] = audited.events_of(fleet)
    at = limited.occurred_at.isoformat()
    code, output = await fleetstate(
        audited.settings, "as-of", at, "fleet", "--account", ACCOUNT_A, "--json"
    )
    assert code == 0, output
    printed = msgspec.json.decode(output)
    assert printed["sid"] == fleet and printed["data_limit"] == 250
    code, output = await fleetstate(
        audited.settings, "as-of", "2000-01-01", fleet, "--account", ACCOUNT_A
    )
    assert code == 1 and "did not exist yet" in output, output
