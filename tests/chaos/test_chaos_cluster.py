"""The short chaos run on a three-node Kafka cluster (replication factor 3, min.insync.replicas 2),
every service running twice: the busiest partition's leader and all nodes but one killed, a
broker paused past its session (it comes back as a leader that was replaced). Nothing
acknowledged is lost or duplicated, the read models equal a replay, and the API answers 503
only while fewer than two replicas are up. `make chaos-cluster` runs the long version, which
also kills the active controller."""

from __future__ import annotations

import pytest

from tests.chaos.run import CLUSTER, ChaosConfig, run_chaos

# Judged on timing (rebalances, faults): `make test` runs it alone, after the rest.
pytestmark = pytest.mark.serial

# One node down at a time leaves two replicas of everything: writes go on.
ONE_NODE_DOWN = ("leader", "broker_pause")


@pytest.mark.timeout(900)
async def test_a_short_chaos_run_on_a_cluster_loses_nothing_and_is_unavailable_only_below_min_isr(
    tmp_path,
):
    config = ChaosConfig(
        **{
            **CLUSTER,
            "commands": 1200,
            "rate": 150,
            "accounts": 20,
            "kills": 2,
            "pauses": 0,
            "database_restarts": 0,
            "leader_kills": 1,
            "controller_kills": 0,
            "seed": 5,
            "logs": tmp_path,
        }
    )
    report = await run_chaos(config)
    assert report.brokers == 3
    assert report.faults == {"kill": 2, "leader": 1, "broker_pause": 1, "minority": 1}
    assert report.problems() == []
    assert report.replicas["__transaction_state"] == report.replicas["__consumer_offsets"] == 3
    assert len(report.replicas) > 10 and set(report.replicas.values()) == {3}, report.replicas
    assert report.api_fleets_created > 0 and report.reports_sent > 0
    unavailable = report.unavailable_seconds
    assert all(seconds == 0.0 for kind in ONE_NODE_DOWN for seconds in unavailable[kind]), (
        unavailable
    )
    assert "no fault" not in unavailable, unavailable
