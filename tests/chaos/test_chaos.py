"""The short chaos run: the whole system under load while processes, the broker and the
database fail; nothing acknowledged is lost or duplicated and the read models equal a replay.
`make chaos` runs the long version (20,000 commands and more faults)."""

from __future__ import annotations

import pytest

from tests.chaos.run import ChaosConfig, run_chaos

# Judged on timing (rebalances, faults): `make test` runs it alone, after the rest.
pytestmark = pytest.mark.serial


@pytest.mark.timeout(900)
async def test_a_short_chaos_run_loses_and_duplicates_nothing(tmp_path):
    config = ChaosConfig(
        commands=2000,
        rate=200,
        accounts=20,
        kills=4,
        pauses=1,
        broker_kills=1,
        database_restarts=1,
        seed=11,
        logs=tmp_path,
    )
    report = await run_chaos(config)
    assert report.faults == {"kill": 4, "pause": 1, "broker": 1, "database": 1}
    assert report.problems() == []
    assert report.contested_cards > 0 and report.api_fleets_created > 0
    assert report.reports_sent >= 4000
