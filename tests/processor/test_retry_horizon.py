"""A retry inside the de-duplication horizon is answered with its first outcome however many
commands came after it, and across a SIGKILL and restore (the memory of answered commands is
in the changelog): the command that was de-duplicated by count, and appended twice, before."""

from __future__ import annotations

import msgspec
import pytest
from aiokafka import AIOKafkaProducer

from bench.event_log import partition_of
from events.codec import encode_command
from events.commands import CreateFleet, CreateNetworkAccessProfile, UpdateNetworkAccessProfile
from events.kafka_security import kafka_options
from tests.processor.conftest import ACCOUNT
from tests.processor.support import committed_log

# CPU-heavy: under `make test`'s two xdist workers, these run one after another.
pytestmark = pytest.mark.xdist_group("heavy")

# More than the 200,000 outcomes the count-based memory this replaced could hold (and 30 times
# its 10,000-command window before that): a memory by count forgets this retry, one by hours of
# broker time does not. A million takes three times as long and shows nothing more.
NEWER = 300_000


async def produce_in_batches(topics, account: str, values) -> None:
    """Every value to the account's partition, a full record batch per request (sending them
    one by one costs most of the test's time)."""
    producer = AIOKafkaProducer(
        **kafka_options(topics.kafka_bootstrap), acks="all", max_batch_size=512 * 1024
    )
    await producer.start()
    try:
        partitions = await producer.partitions_for(topics.commands_topic)
        partition = partition_of(account, len(partitions))
        key = account.encode()
        batch = producer.create_batch()
        for value in values:
            if batch.append(key=key, value=value, timestamp=None) is None:
                await producer.send_batch(batch, topics.commands_topic, partition=partition)
                batch = producer.create_batch()
                batch.append(key=key, value=value, timestamp=None)
        await producer.send_batch(batch, topics.commands_topic, partition=partition)
        await producer.flush()
    finally:
        await producer.stop()


@pytest.mark.timeout(600)
async def test_a_retry_after_300000_newer_commands_gets_its_first_outcome(
    topics, client, processor, account
):
    await client.execute(CreateNetworkAccessProfile(unique_name="nap"), account_sid=ACCOUNT)
    retried = client.envelope(
        CreateFleet(network_access_profile="nap", unique_name="once"), account_sid=ACCOUNT
    )
    first = await client.execute(retried, timeout=60)
    assert first.status == "accepted"

    # Newer commands of the same account (no-ops: cheap to decide, each answered).
    noop = UpdateNetworkAccessProfile(network_access_profile="nap", unique_name="nap")
    template = client.envelope(noop, account_sid=ACCOUNT)
    values = (
        encode_command(msgspec.structs.replace(template, command_id=f"newer-{n}"))
        for n in range(NEWER)
    )
    await produce_in_batches(topics, ACCOUNT, values)
    last = await client.execute(noop, account_sid=ACCOUNT, timeout=300)  # after all of them
    assert last.status == "accepted"

    processor.kill()  # restored from the changelog: the memory too
    processor.start()
    assert await client.execute(retried, timeout=120) == first
    events, _ = await committed_log(topics)
    assert len([e for e in events if e.command_id == retried.command_id]) == 1
    assert [e.payload.unique_name for e in events if e.type == "FleetCreated"] == ["once"]
