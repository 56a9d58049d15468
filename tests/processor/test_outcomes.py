"""Commands sent through the client come back as outcomes; retries and bad input are safe."""

from __future__ import annotations

import asyncio

from aiokafka import AIOKafkaProducer

from events.commands import CreateFleet, CreateNetworkAccessProfile
from events.sids import derive_sid
from services.log_reader import read_all
from tests.processor.support import committed_log

ACCOUNT = derive_sid("AC", "processor-tests")


async def test_an_accepted_command_returns_its_events_with_their_log_positions(client, processor):
    outcome = await client.execute(
        CreateNetworkAccessProfile(unique_name="nap"), account_sid=ACCOUNT, timeout=60
    )
    assert outcome.status == "accepted"
    [ref] = outcome.events
    assert ref.type == "NetworkAccessProfileCreated"
    events, _ = await committed_log(client_settings(client))
    [stored] = [e for e in events if e.event_id == ref.event_id]
    assert stored.aggregate_id == ref.aggregate_id and stored.aggregate_version == 1


async def test_a_rejected_command_returns_status_code_and_reason_and_appends_nothing(
    client, processor
):
    outcome = await client.execute(
        CreateFleet(network_access_profile="no-such-profile"), account_sid=ACCOUNT, timeout=60
    )
    assert outcome.status == "rejected"
    assert outcome.rejection.http_status in (400, 404)
    assert "no-such-profile" in outcome.rejection.message
    events, _ = await committed_log(client_settings(client))
    assert [e for e in events if e.command_id == outcome.command_id] == []


async def test_the_same_command_id_twice_appends_once_and_answers_the_same(client, processor):
    await client.execute(
        CreateNetworkAccessProfile(unique_name="nap"), account_sid=ACCOUNT, timeout=60
    )
    envelope = client.envelope(
        CreateFleet(network_access_profile="nap", unique_name="once"),
        account_sid=ACCOUNT,
        command_id="retry-me",
    )
    first = await client.execute(envelope, timeout=30)
    again = await client.execute(envelope, timeout=30)
    assert first.status == "accepted"
    assert again == first
    events, outcomes = await committed_log(client_settings(client))
    assert len([e for e in events if e.command_id == "retry-me"]) == 1


async def test_garbage_and_unknown_commands_go_to_the_dlq_and_the_next_command_is_processed(
    client, processor
):
    settings = client_settings(client)
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap)
    await producer.start()
    try:
        key = ACCOUNT.encode()
        await producer.send_and_wait(settings.commands_topic, b"\x00\xffnot json", key=key)
        unknown = (
            b'{"command_id":"unknown-1","account_sid":"%s","actor":"t",'
            b'"issued_at":"2026-11-25T18:00:00Z","command":{"type":"LaunchRocket"}}' % key
        )
        await producer.send_and_wait(settings.commands_topic, unknown, key=key)
    finally:
        await producer.stop()
    after = await client.execute(
        CreateNetworkAccessProfile(unique_name="after-garbage"), account_sid=ACCOUNT, timeout=60
    )
    assert after.status == "accepted"

    dead = [
        r
        for records in (await read_all(settings.kafka_bootstrap, settings.dlq_topic)).values()
        for r in records
    ]
    assert [r.value for r in dead] == [b"\x00\xffnot json", unknown]
    reasons = [dict(r.headers)["reason"].decode() for r in dead]
    assert all(reason.startswith("invalid command") for reason in reasons)
    assert "LaunchRocket" in reasons[1]
    _, outcomes = await committed_log(settings)
    matching = [o for o in outcomes if o.command_id == "unknown-1"]
    assert len(matching) == 1, matching
    [rejected] = matching
    assert rejected.status == "rejected" and rejected.rejection.code == 20001


async def test_many_commands_sent_at_once_are_each_answered(client, processor):
    await client.execute(
        CreateNetworkAccessProfile(unique_name="nap"), account_sid=ACCOUNT, timeout=60
    )
    envelopes = [
        client.envelope(
            CreateFleet(network_access_profile="nap", unique_name=f"f{i}"), account_sid=ACCOUNT
        )
        for i in range(500)
    ]
    outcomes = await client.execute_many(envelopes, timeout=60)
    assert [o.command_id for o in outcomes] == [e.command_id for e in envelopes]
    assert {o.status for o in outcomes} == {"accepted"}
    await asyncio.sleep(0)


def client_settings(client):
    import msgspec

    from services.config import load_settings

    return msgspec.structs.replace(
        load_settings(),
        commands_topic=client.commands_topic,
        outcomes_topic=client.outcomes_topic,
        events_topic=client.commands_topic.replace(".commands", ".events"),
        dlq_topic=client.commands_topic.replace(".commands", ".commands.dlq"),
    )
