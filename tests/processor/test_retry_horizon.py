"""A retry inside the de-duplication horizon is answered with its first outcome however many
commands came after it, and across a SIGKILL and restore (the memory of answered commands is
in the changelog): the command that was de-duplicated by count, and appended twice, before."""

from __future__ import annotations

import pytest
from aiokafka import AIOKafkaProducer

from events.codec import encode_command
from events.commands import CreateFleet, CreateNetworkAccessProfile, UpdateNetworkAccessProfile
from tests.processor.conftest import ACCOUNT
from tests.processor.support import committed_log

NEWER = 1_000_000


@pytest.mark.timeout(600)
async def test_a_retry_after_a_million_newer_commands_gets_its_first_outcome(
    topics, client, processor, account
):
    await client.execute(CreateNetworkAccessProfile(unique_name="nap"), account_sid=ACCOUNT)
    retried = client.envelope(
        CreateFleet(network_access_profile="nap", unique_name="once"), account_sid=ACCOUNT
    )
    first = await client.execute(retried, timeout=60)
    assert first.status == "accepted"

    # A million newer commands of the same account (no-ops: cheap to decide, each answered).
    noop = UpdateNetworkAccessProfile(network_access_profile="nap", unique_name="nap")
    producer = AIOKafkaProducer(bootstrap_servers=topics.kafka_bootstrap, linger_ms=20)
    await producer.start()
    try:
        template = client.envelope(noop, account_sid=ACCOUNT)
        for n in range(NEWER):
            value = encode_command(template.__class__(**{
                **{f: getattr(template, f) for f in template.__struct_fields__},
                "command_id": f"newer-{n}",
            }))  # fmt: skip
            await producer.send(topics.commands_topic, value, key=ACCOUNT.encode())
        await producer.flush()
    finally:
        await producer.stop()
    last = await client.execute(noop, account_sid=ACCOUNT, timeout=300)  # after all of them
    assert last.status == "accepted"

    processor.kill()  # restored from the changelog: the memory too
    processor.start()
    assert await client.execute(retried, timeout=120) == first
    events, _ = await committed_log(topics)
    assert len([e for e in events if e.command_id == retried.command_id]) == 1
    assert [e.payload.unique_name for e in events if e.type == "FleetCreated"] == ["once"]
