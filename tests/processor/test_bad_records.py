"""Records the processor cannot decide never stop its partition: a null value, a record too
large to decide and a command whose event the log could not hold each get a rejected outcome
(and the first two a dead letter), and the next command is answered."""

from __future__ import annotations

from aiokafka import AIOKafkaProducer

from events.codec import encode_command
from events.commands import CreateAccount, CreateNetworkAccessProfile
from events.kafka_security import kafka_options
from events.sids import derive_sid
from services.log_reader import read_all
from services.runtime.limits import largest_value
from tests.processor.support import committed_log


async def test_null_and_oversized_records_are_refused_and_the_partition_goes_on(
    topics, client, account
):
    limit = await largest_value(
        topics.kafka_bootstrap, [topics.events_topic, topics.processor_changelog_topic]
    )
    producer = AIOKafkaProducer(
        **kafka_options(topics.kafka_bootstrap), max_request_size=4 * 1024 * 1024
    )
    await producer.start()
    key = account.encode()
    # An event a little larger than its command: the command fits the log, its event not.
    near_the_limit = client.envelope(
        CreateAccount(friendly_name="big", auth_token_hash="h" * (limit - 600)),
        account_sid=derive_sid("AC", "big-account"),
    )
    over_the_limit = client.envelope(
        CreateAccount(friendly_name="bigger", auth_token_hash="h" * (limit + 100)),
        account_sid=derive_sid("AC", "bigger-account"),
        command_id="too-large",
    )
    try:
        await producer.send_and_wait(topics.commands_topic, None, key=key)
        for envelope in (over_the_limit, near_the_limit):
            await producer.send_and_wait(
                topics.commands_topic,
                encode_command(envelope),
                key=envelope.account_sid.encode(),
            )
    finally:
        await producer.stop()
    refused = await client.execute(near_the_limit, timeout=60)
    assert refused.status == "rejected" and refused.rejection.code == 20001
    assert "AccountCreated" in refused.rejection.message and "limit" in refused.rejection.message
    after = await client.execute(
        CreateNetworkAccessProfile(unique_name="after"), account_sid=account, timeout=60
    )
    assert after.status == "accepted"

    events, outcomes = await committed_log(topics)
    assert [e.account_sid for e in events if e.type == "AccountCreated"] == [account]
    [too_large] = [o for o in outcomes if o.command_id == "too-large"]
    assert too_large.status == "rejected" and "too large to decide" in too_large.rejection.message
    dead = [
        r
        for records in (await read_all(topics.kafka_bootstrap, topics.dlq_topic)).values()
        for r in records
    ]
    reasons = [dict(r.headers)["reason"].decode() for r in dead]
    assert len(dead) == 2
    assert "null value" in reasons[0] and dead[0].value is None
    assert "too large" in reasons[1] and dead[1].value == encode_command(over_the_limit)
