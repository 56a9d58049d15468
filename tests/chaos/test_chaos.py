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
    assert report.acknowledged + report.rejected == report.commands_sent
    assert report.lost == 0, report.examples["lost"]
    assert report.duplicated == 0, report.examples["duplicated"]
    assert report.version_gaps == 0, report.examples["version_gaps"]
    assert report.mismatched_rows == {}, report.examples["rows"]
    assert report.replayed_events == report.events_in_log
    assert report.contested_cards > 0 and report.card_owner_errors == 0, report.examples[
        "card_owners"
    ]
    assert report.ip_address_errors == 0, report.examples["ip_addresses"]
    assert report.chain_broken is None
    assert report.api_fleets_created > 0 and "500" not in report.api_statuses
    assert report.reports_sent >= 4000 and report.usage_mismatches == 0, report.examples["usage"]
    assert report.passed
