"""Commands sent through the client come back as outcomes; retries and bad input are safe."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import msgspec
from aiokafka import AIOKafkaProducer

from events.commands import CreateAccount, CreateFleet, CreateNetworkAccessProfile
from events.kafka_security import kafka_options
from events.sids import derive_sid
from services.log_reader import read_all
from tests.processor.conftest import ACCOUNT
from tests.processor.support import committed_log


async def test_an_accepted_command_returns_its_events_with_their_log_positions(client, account):
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
    client, account
):
    outcome = await client.execute(
        CreateFleet(network_access_profile="no-such-profile"), account_sid=ACCOUNT, timeout=60
    )
    assert outcome.status == "rejected"
    assert outcome.rejection.http_status in (400, 404)
    assert "no-such-profile" in outcome.rejection.message
    events, _ = await committed_log(client_settings(client))
    assert [e for e in events if e.command_id == outcome.command_id] == []


async def test_the_same_command_id_twice_appends_once_and_answers_the_same(client, account):
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
    client, account
):
    settings = client_settings(client)
    producer = AIOKafkaProducer(**kafka_options(settings.kafka_bootstrap))
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


async def test_many_commands_sent_at_once_are_each_answered(client, account):
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
    from services.config import load_settings, with_topic_prefix

    prefix = client.commands_topic.removesuffix(".commands")
    return with_topic_prefix(load_settings(), prefix)


async def test_a_command_issued_before_the_horizon_is_refused_and_never_decided(client, account):
    # A command the log receives more than 24 hours after it was issued may be a retry of one
    # answered and since forgotten: it is refused, and so is every repeat of it.
    old = client.envelope(
        CreateNetworkAccessProfile(unique_name="from-yesterday"), account_sid=ACCOUNT
    )
    old = msgspec.structs.replace(old, issued_at=datetime.now(UTC) - timedelta(hours=25))
    refused = await client.execute(old, timeout=60)
    assert refused.status == "rejected" and refused.rejection.code == 20001
    assert "more than 24 hours" in refused.rejection.message
    assert await client.execute(old, timeout=60) == refused
    future = client.envelope(CreateNetworkAccessProfile(unique_name="ahead"), account_sid=ACCOUNT)
    future = msgspec.structs.replace(future, issued_at=datetime.now(UTC) + timedelta(hours=1))
    ahead = await client.execute(future, timeout=60)
    assert ahead.status == "rejected" and "ahead of the log's clock" in ahead.rejection.message
    events, _ = await committed_log(client_settings(client))
    assert [e for e in events if e.command_id in (old.command_id, future.command_id)] == []


async def test_a_command_for_an_account_never_created_is_rejected_and_appends_nothing(
    client, account
):
    stranger = derive_sid("AC", "never-created")
    outcome = await client.execute(
        CreateNetworkAccessProfile(unique_name="nap"), account_sid=stranger, timeout=60
    )
    assert (outcome.status, outcome.rejection.code) == ("rejected", 20404)
    events, _ = await committed_log(client_settings(client))
    assert [e for e in events if e.account_sid == stranger] == []


async def test_two_accounts_using_the_same_command_id_each_get_their_own_outcome(client, account):
    other = derive_sid("AC", "processor-tests-other")
    await client.execute(
        CreateAccount(friendly_name="other", auth_token_hash="0" * 64), account_sid=other
    )
    mine = client.envelope(CreateNetworkAccessProfile(unique_name="mine"), account_sid=ACCOUNT,
                           command_id="shared-id")  # fmt: skip
    theirs = client.envelope(CreateNetworkAccessProfile(unique_name="n" * 70),
                             account_sid=other, command_id="shared-id")  # fmt: skip
    first, second = await asyncio.gather(
        client.execute(mine, timeout=60), client.execute(theirs, timeout=60)
    )
    assert (first.account_sid, first.status) == (ACCOUNT, "accepted")
    assert (second.account_sid, second.status) == (other, "rejected")
