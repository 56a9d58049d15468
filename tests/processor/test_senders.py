"""Commands by kind of sender, on the real broker: the operator's commands and fleetstate's
own steps are decided only from their own topics (which the cluster's ACLs let only the
operator and the processors write); written to the tenants' commands topic, they are refused
and change nothing. Partition p of every commands topic belongs to one processor."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime

from bench.event_log import partition_of
from events.client import CommandClient
from events.commands import (
    CreateAccount,
    CreateNetworkAccessProfile,
    ProvisionSimCard,
    RegisterSim,
    SuspendSimData,
    TransferSimCard,
)
from events.sids import OPERATOR_ACCOUNT_SID, derive_sid
from services.log_reader import read_all
from tests.processor.inprocess import running
from tests.processor.support import assigned_log, committed_log

TENANT = derive_sid("AC", "senders-tenant")
THIEF = derive_sid("AC", "senders-thief")
ICCID = "8901000000000000123"


@contextlib.asynccontextmanager
async def tenant_client(settings):
    """A client as a tenant's service has one: it may write the commands topic alone."""
    async with CommandClient(
        settings.kafka_bootstrap,
        commands_topic=settings.commands_topic,
        outcomes_topic=settings.outcomes_topic,
        actor="tenant-service",
    ) as client:
        yield client


def refused_as_from_elsewhere(outcome, only: str) -> None:
    assert outcome.status == "rejected", outcome
    assert (outcome.rejection.http_status, outcome.rejection.code) == (400, 20001)
    assert f"only {only}" in outcome.rejection.message, outcome.rejection.message


async def test_operator_commands_on_the_commands_topic_are_refused_and_change_nothing(
    topics, client, processor
):
    async with tenant_client(topics) as tenant:
        account = await tenant.execute(
            CreateAccount(friendly_name="forged", auth_token_hash="f" * 64),
            account_sid=TENANT,
            timeout=60,
        )
        card = await tenant.execute(
            ProvisionSimCard(iccid=ICCID, registration_code="ABCDEFGHIJ"),
            account_sid=OPERATOR_ACCOUNT_SID,
            timeout=60,
        )
        refused_as_from_elsewhere(account, "the operator")
        refused_as_from_elsewhere(card, "the operator")
        # No account was made: its commands are answered as an unknown account's.
        profile = await tenant.execute(
            CreateNetworkAccessProfile(unique_name="nap"), account_sid=TENANT, timeout=60
        )
        assert (profile.status, profile.rejection.code) == ("rejected", 20404), profile
    events, _ = await committed_log(topics)
    assert events == []

    # The same ids from the operator are other commands: decided, not answered as refused.
    accepted = await client.execute(
        CreateAccount(friendly_name="real", auth_token_hash="a" * 64),
        account_sid=TENANT,
        command_id=account.command_id,
        timeout=60,
    )
    assert accepted.status == "accepted", accepted
    assert accepted.sender == "operator"


async def test_steps_and_usage_facts_on_the_commands_topic_are_refused(topics, client, processor):
    await client.execute_many(
        [
            client.envelope(ProvisionSimCard(iccid=ICCID, registration_code="ABCDEFGHIJ"),
                            account_sid=OPERATOR_ACCOUNT_SID),
            client.envelope(CreateAccount(friendly_name="t", auth_token_hash="t" * 64),
                            account_sid=TENANT),
            client.envelope(CreateAccount(friendly_name="x", auth_token_hash="x" * 64),
                            account_sid=THIEF),
        ],
        timeout=60,
    )  # fmt: skip
    async with tenant_client(topics) as tenant:
        registered = await tenant.execute(
            RegisterSim(iccid=ICCID, registration_code="ABCDEFGHIJ"), account_sid=TENANT, timeout=60
        )
        assert registered.status == "accepted", registered
        sim = next(e.aggregate_id for e in registered.events if e.aggregate_type == "Sim")
        # The card's ConfirmSimCard is a step after the answer: the log is still moving.
        before, _ = await assigned_log(topics, [ICCID])
        # The card registry's step that hands a card to another account, forged by a tenant.
        transfer = TransferSimCard(
            iccid=ICCID,
            sim=sim,
            to_account=THIEF,
            request_id="forged",
            unique_name=None,
            callback_url=None,
            callback_method=None,
            registered_at=datetime.now(UTC),
            data_suspended=False,
            version=1,
        )
        stolen = await tenant.execute(transfer, account_sid=TENANT, timeout=60)
        suspend = SuspendSimData(
            sim=sim,
            period_start=datetime(2026, 11, 1, tzinfo=UTC),
            period_end=datetime(2026, 12, 1, tzinfo=UTC),
            data_used=10**9,
            data_limit=1,
        )
        suspended = await tenant.execute(suspend, account_sid=TENANT, timeout=60)
    refused_as_from_elsewhere(stolen, "fleetstate's processors")
    refused_as_from_elsewhere(suspended, "fleetstate's processors")
    after, _ = await committed_log(topics)
    assert after == before, "a forged step changed the log"


async def test_the_steps_of_a_process_travel_on_the_internal_topic(topics, client, processor):
    await client.execute_many(
        [
            client.envelope(ProvisionSimCard(iccid=ICCID, registration_code="ABCDEFGHIJ"),
                            account_sid=OPERATOR_ACCOUNT_SID),
            client.envelope(CreateAccount(friendly_name="t", auth_token_hash="t" * 64),
                            account_sid=TENANT),
        ],
        timeout=60,
    )  # fmt: skip
    registered = await client.execute(
        RegisterSim(iccid=ICCID, registration_code="ABCDEFGHIJ"), account_sid=TENANT, timeout=60
    )
    assert registered.status == "accepted", registered
    internal = await read_all(topics.kafka_bootstrap, topics.internal_topic)
    tenants = await read_all(topics.kafka_bootstrap, topics.commands_topic)
    steps = {_type(r.value) for records in internal.values() for r in records}
    assert {"ReserveSimCard", "CompleteSimRegistration"} <= steps, steps
    assert {_type(r.value) for records in tenants.values() for r in records} == {"RegisterSim"}


def _type(value: bytes) -> str:
    from events.codec import decode_command

    return type(decode_command(value).command).__name__


async def test_partition_p_of_every_commands_topic_belongs_to_one_processor(topics, client):
    """Two processors share two partitions: each owns all three topics' partition of one
    number, and both numbers are answered."""
    tps = {topics.commands_topic, topics.operator_topic, topics.internal_topic}
    async with running(topics) as one, running(topics) as two:
        async with asyncio.timeout(120):
            while not (len(one.partitions) == len(two.partitions) == 1):  # noqa: ASYNC110
                await asyncio.sleep(0.05)
        for processor in (one, two):
            [partition] = processor.partitions
            assigned = processor.consumer.assignment()
            assert {(tp.topic, tp.partition) for tp in assigned} == {
                (topic, partition) for topic in tps
            }
        # Both answer: an account of each partition is created.
        accounts = {}
        for n in range(1000):
            sid = derive_sid("AC", f"senders-{n}")
            accounts.setdefault(partition_of(sid, topics.partitions), sid)
        outcomes = await client.execute_many(
            [
                client.envelope(
                    CreateAccount(friendly_name=sid, auth_token_hash="0" * 64), account_sid=sid
                )
                for sid in accounts.values()
            ],
            timeout=60,
        )
    assert {o.status for o in outcomes} == {"accepted"}
    assert {ref.partition for o in outcomes for ref in o.events} == {0, 1}
