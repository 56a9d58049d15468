"""A retry is never decided again because its first outcome could not be read back.

The processor remembers where each command's first outcome is and answers a retry by reading
it. The short chaos run found what happened when that read failed: while the broker was away
the reader gave up after ten seconds, the retry was taken for a new command and decided again,
and its events were appended twice (a retried update decided after a newer one even set the
Fleet back). Here the broker freezes exactly while a retry's outcome is read; and an outcome
deleted from the log is answered as such, never decided again.
"""

from __future__ import annotations

import asyncio

import msgspec
import pytest
from aiokafka import TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, RecordsToDelete

from events.commands import CreateAccount, CreateFleet, CreateNetworkAccessProfile, UpdateFleet
from events.kafka_security import kafka_options
from services.config import with_topic_prefix
from services.log_reader import log_consumer
from services.processor.outcome_reader import OutcomeReader
from services.processor.partition import CommandPartition
from services.topics import ensure_topics
from tests.chaos.stack import ROOT, ChaosStack
from tests.conftest import command_client
from tests.processor.conftest import ACCOUNT
from tests.processor.inprocess import running
from tests.processor.support import committed_log

FROZEN_SECONDS = 4.0  # the broker's freeze: longer than the reader's deadline below
READ_DEADLINE_SECONDS = 1.0


async def fleet_with_two_limits(client) -> tuple:
    """An account, a Fleet, and two updates of its data limit: (the first update's envelope,
    its outcome). A retry of the first, decided again now, would change the limit back."""
    created = await client.execute(
        CreateAccount(friendly_name="outcomes", auth_token_hash="0" * 64),
        account_sid=ACCOUNT,
        timeout=60,
    )
    assert created.status == "accepted", created
    await client.execute(CreateNetworkAccessProfile(unique_name="nap"), account_sid=ACCOUNT)
    fleet = await client.execute(
        CreateFleet(network_access_profile="nap", unique_name="fleet"), account_sid=ACCOUNT
    )
    assert fleet.status == "accepted", fleet
    first = client.envelope(UpdateFleet(fleet="fleet", data_limit=100), account_sid=ACCOUNT)
    answered = await client.execute(first, timeout=30)
    assert answered.status == "accepted" and answered.events, answered
    newer = await client.execute(UpdateFleet(fleet="fleet", data_limit=200), account_sid=ACCOUNT)
    assert newer.status == "accepted" and newer.events, newer
    return first, answered


async def assert_appended_once(settings, command_id: str) -> None:
    events, _ = await committed_log(settings)
    mine = [e for e in events if e.command_id == command_id]
    assert len(mine) == 1, [(e.event_id, e.type) for e in mine]
    limits = [e.payload.to_data_limit for e in events if e.type == "FleetDataLimitChanged"]
    assert limits == [100, 200]


@pytest.fixture
def frozen_broker():
    """A broker of this test's own: freezing the dev stack's would stall every other test."""
    stack = ChaosStack(ROOT / ".devstack" / "frozen-broker", ports=(19192, 19193, 15533))
    stack.start(only="kafka")
    yield stack
    stack.stop()


@pytest.mark.timeout(240)
async def test_a_retry_read_back_while_the_broker_is_frozen_waits_for_its_first_outcome(
    base_settings, unique, frozen_broker
):
    settings = msgspec.structs.replace(
        with_topic_prefix(base_settings, f"test-{unique}"),
        kafka_bootstrap=frozen_broker.bootstrap,
        partitions=1,
    )
    await ensure_topics(settings)
    freezes: list[float] = []

    class FreezingReader(OutcomeReader):
        async def read(self, offsets):
            if not freezes:  # once: the restored partition reads the outcome normally
                await super().read([])  # connected before the freeze, as a busy one is
                frozen_broker.pause_kafka()
                freezes.append(FROZEN_SECONDS)
                asyncio.get_running_loop().call_later(FROZEN_SECONDS, frozen_broker.resume_kafka)
            return await super().read(offsets)

    class Partition(CommandPartition):
        def __init__(self, processor, partition):
            super().__init__(processor, partition)
            self.reader = FreezingReader(
                self.bootstrap, self.outcomes_tp, give_up_seconds=READ_DEADLINE_SECONDS
            )

    async with running(settings, worker=Partition), command_client(settings) as client:
        first, answered = await fleet_with_two_limits(client)
        retried = await client.execute(first, timeout=120)
    assert freezes, "the retry's first outcome was never read back"
    assert retried == answered
    await assert_appended_once(settings, first.command_id)


async def delete_every_outcome(settings) -> None:
    admin = AIOKafkaAdminClient(**kafka_options(settings.kafka_bootstrap))
    await admin.start()
    try:
        consumer_end = await _end_offsets(settings)
        await admin.delete_records(
            {tp: RecordsToDelete(before_offset=end) for tp, end in consumer_end.items()}
        )
    finally:
        await admin.close()


async def _end_offsets(settings) -> dict[TopicPartition, int]:
    consumer = log_consumer(settings.kafka_bootstrap)
    await consumer.start()
    try:
        tps = [TopicPartition(settings.outcomes_topic, p) for p in range(settings.partitions)]
        return await consumer.end_offsets(tps)
    finally:
        await consumer.stop()


@pytest.mark.timeout(120)
async def test_a_retry_whose_first_outcome_was_deleted_is_refused_not_decided_again(topics, client):
    async with running(topics):
        first, _ = await fleet_with_two_limits(client)
        await delete_every_outcome(topics)
        retried = await client.execute(first, timeout=30)
    assert retried.status == "rejected", retried
    assert retried.rejection.http_status == 409
    assert "no longer in the outcomes log" in retried.rejection.message
    await assert_appended_once(topics, first.command_id)
