"""A restore given up mid-way must not leave the partition's next worker deaf to the events.

When a partition is revoked while its worker is still restoring (a rebalance after a broker
restart, say), the runtime cancels the restore and lets that worker wind down in the
background, so the rebalance callback never waits. The partition may come back at once and a
new worker restore it meanwhile. A short chaos run lost usage this way: the old worker's
wind-down stopped the events reaching the new one, whose directory then never learnt of Sims
registered afterwards, and their reports were dead-lettered as "no Sim with this SID".
"""

from __future__ import annotations

import uuid

from bench.event_log import partition_of
from events.commands import ProvisionSimCard, RegisterSim
from events.sids import OPERATOR_ACCOUNT_SID
from services.log_reader import read_all
from services.usage.partition import UsagePartition
from services.usage.processor import UsageProcessor
from tests.usage.pipeline import now, provision, totals_from_log, usage_log
from tests.usage.support import recomputed_totals, report


async def test_an_abandoned_restore_winding_down_leaves_the_new_worker_following_the_events(
    topics, client, processor, reporter
):
    world = await provision(client, "abandoned", [])
    partition = partition_of(world.account, topics.partitions)
    usage = UsageProcessor(topics)
    await usage.start_dependencies()
    try:
        abandoned = UsagePartition(usage, partition)
        await abandoned.start()
        current = UsagePartition(usage, partition)  # the partition came back: restored anew
        await current.start()
        await abandoned.stop()  # the given-up worker finishes winding down only now
        try:
            iccid = f"8933{uuid.uuid4().int % 10**15:015d}"
            provisioned = await client.execute(
                ProvisionSimCard(iccid=iccid, registration_code="CODE000001"),
                account_sid=OPERATOR_ACCOUNT_SID,
            )
            assert provisioned.status == "accepted", provisioned.rejection
            registered = await client.execute(
                RegisterSim(iccid=iccid, registration_code="CODE000001"), account_sid=world.account
            )
            assert registered.status == "accepted", registered.rejection
            sim = registered.events[0].aggregate_id

            sent = report(world.account, sim, 1_000, 20_000, end=now(), network_sid=world.network)
            await reporter.report(sent)
            inputs = await read_all(topics.kafka_bootstrap, topics.usage_topic)
            await current.process(inputs[partition])
        finally:
            await current.stop()
    finally:
        await usage.stop_dependencies()

    dead = await read_all(topics.kafka_bootstrap, topics.usage_dlq_topic)
    assert [dict(r.headers)["reason"] for rs in dead.values() for r in rs] == []
    assert totals_from_log(await usage_log(topics)) == recomputed_totals([sent])
