"""Where a partition's worker starts reading its input after a restore: at the input its
changelog says its state answered, written in the transaction that answered it. The consumer
group's offsets only follow (for those who watch the lag), so offsets that trail or were lost
never make a restored worker answer a command again."""

from __future__ import annotations

import asyncio

from aiokafka import AIOKafkaConsumer, TopicPartition

from events.commands import CreateAccount
from events.kafka_security import kafka_options
from events.sids import derive_sid
from services.config import Settings
from services.processor.app import Processor
from tests.processor.inprocess import running
from tests.processor.support import committed_log

ACCOUNTS = [derive_sid("AC", f"input-positions-{i}") for i in range(20)]


def input_partitions(settings: Settings) -> list[TopicPartition]:
    topics = (settings.commands_topic, settings.operator_topic, settings.internal_topic)
    return [TopicPartition(t, p) for t in topics for p in range(settings.partitions)]


async def group_offsets(settings: Settings, group_id: str) -> dict[TopicPartition, int]:
    consumer = AIOKafkaConsumer(**kafka_options(settings.kafka_bootstrap), group_id=group_id)
    await consumer.start()
    try:
        return {tp: await consumer.committed(tp) or 0 for tp in input_partitions(settings)}
    finally:
        await consumer.stop()


async def forget_group_offsets(settings: Settings, group_id: str) -> None:
    """Commits offset 0 for every input partition, as a group whose offsets were lost or
    trail far behind would have (the group has no member: its processor is stopped)."""
    consumer = AIOKafkaConsumer(
        **kafka_options(settings.kafka_bootstrap), group_id=group_id, enable_auto_commit=False
    )
    await consumer.start()
    try:
        consumer.assign(input_partitions(settings))
        await consumer.commit({tp: 0 for tp in input_partitions(settings)})
    finally:
        await consumer.stop()


async def test_a_restore_starts_where_the_changelog_says_not_where_the_group_offsets_trail(
    topics, client
):
    async with running(topics) as processor:
        for account in ACCOUNTS:
            outcome = await client.execute(
                CreateAccount(friendly_name="positions", auth_token_hash="0" * 64),
                account_sid=account,
                timeout=60,
            )
            assert outcome.status == "accepted", outcome
        group_id = processor.group_id
        # The group's offsets follow what was answered (the lag is visible to its watchers).
        async with asyncio.timeout(30):
            while await _commands_committed(topics, group_id) < len(ACCOUNTS):  # noqa: ASYNC110
                await asyncio.sleep(0.2)  # the broker's offsets: no event to wait for
    _, before = await committed_log(topics)
    await forget_group_offsets(topics, group_id)
    async with running(topics) as processor:
        await _every_partition_answering(processor)
        # A command sent now is answered, and none of the earlier ones again.
        late = derive_sid("AC", "input-positions-late")
        outcome = await client.execute(
            CreateAccount(friendly_name="late", auth_token_hash="0" * 64),
            account_sid=late,
            timeout=60,
        )
        assert outcome.status == "accepted"
    _, after = await committed_log(topics)
    assert sorted(o.command_id for o in after) == sorted(
        [o.command_id for o in before] + [outcome.command_id]
    )


async def _commands_committed(settings: Settings, group_id: str) -> int:
    """Commands answered, as the group's offsets show (CreateAccount is the operator's)."""
    return sum((await group_offsets(settings, group_id)).values())


async def _every_partition_answering(processor: Processor) -> None:
    async with asyncio.timeout(60):
        await processor.ready.wait()
