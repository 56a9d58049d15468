"""Projectors run as several instances share the log's partitions as a consumer group: each
partition is projected by one of them, and a member that dies hands its partitions to the
others, which resume them from the tracking rows without applying anything twice."""

from __future__ import annotations

import asyncio

import msgspec
import pytest
from aiokafka.structs import ConsumerRecord

from bench.workload import Workload
from services.projection.projector import Projector
from services.projection.runner import Item
from services.projection.tracking import StaleTracking
from tests.projection.support import live_and_rebuilt, wait_until_projected
from tests.services import ServiceProcess


@pytest.fixture
def projected(topics, migrated):
    return msgspec.structs.replace(topics, database_url=migrated)


async def _until(condition, timeout: float = 60.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():  # noqa: ASYNC110 (state of another task, polled)
            await asyncio.sleep(0.1)


@pytest.mark.timeout(300)
async def test_two_projectors_split_the_partitions_and_the_survivor_takes_a_killed_ones(
    projected, client, processor, tmp_path
):
    assert projected.partitions == 2
    workload = Workload(seed=41, accounts=16, sims_per_account=2)
    await client.execute_many(workload.operator_commands(), timeout=120)
    await client.execute_many(workload.setup_commands(), timeout=120)
    stop = asyncio.Event()
    survivor = Projector(projected, shared=True)
    running = asyncio.create_task(survivor.run(stop))
    victim = ServiceProcess("projector", projected, log_path=tmp_path / "projector.log")
    victim.start()
    try:
        # One partition each: the survivor has given the other one up to the service.
        await _until(lambda: len(survivor.positions) == 1 and not survivor._unsought)
        steady = workload.steady_commands(1200)
        await client.execute_many(steady[:600], timeout=120)
        await wait_until_projected(projected, projected.database_url)
        mine = survivor.applied
        assert mine > 0

        victim.kill()  # no goodbye to the group: its partition moves once its session ends
        await client.execute_many(steady[600:], timeout=120)
        await _until(lambda: sorted(survivor.positions) == [0, 1])
        await wait_until_projected(projected, projected.database_url)
        assert survivor.applied > mine
    finally:
        victim.stop()
        stop.set()
        await running

    # What the two wrote together equals one projector's work from offset 0.
    live, rebuilt = await live_and_rebuilt(projected)
    assert len(live["sims"]) == 16 * 2
    assert live == rebuilt


def test_runners_into_another_schema_or_database_are_another_group(settings):
    def group(database_url: str, schema: str) -> str:
        config = msgspec.structs.replace(settings, database_url=database_url)
        return Projector(config, schema=schema, shared=True).group_id

    here = "postgresql://u:secret@127.0.0.1:5433/fleetstate"
    assert group(here, "public") == group(here.replace("secret", "rotated"), "public")
    assert group(here, "public") != group(here, "replayed")
    assert group(here, "public") != group(here.replace("5433/", "5434/"), "public")
    assert "secret" not in group(here, "public")


async def test_records_of_a_partition_taken_back_meanwhile_are_not_applied(settings):
    # A refused batch is retried record by record, and a rebalance may take a partition away
    # between two of them: the runner resumes from the tracking rows instead of failing on
    # (or writing) a partition it no longer has.
    runner = Projector(settings, shared=True)
    runner.positions = {1: 0}  # partition 0 was given to another runner
    record = ConsumerRecord(settings.events_topic, 0, 0, 0, 0, b"k", b"v", None, 1, 1, ())
    with pytest.raises(StaleTracking, match=r"\[0\] were taken back"):
        await runner._commit(None, None, [Item(record, None, None)])
