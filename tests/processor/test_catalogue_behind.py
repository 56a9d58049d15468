"""A command naming a Network is refused as "no such Network" only once this process has read
the Networks catalogue up to now. While the catalogue cannot be read (its follower stalled, the
broker away), the command is not refused for good: its batch is not committed, the partition is
restored, and the command is decided again until the catalogue answers."""

from __future__ import annotations

import asyncio
import itertools

from bench.event_log import partition_of
from events.commands import (
    CreateAccount,
    CreateNetworkAccessProfile,
    NetworkIdentifier,
    ProvisionNetwork,
)
from events.sids import OPERATOR_ACCOUNT_SID, derive_sid
from services.processor import metrics
from tests.processor.inprocess import running


def account_apart_from_the_operator(partitions: int) -> str:
    """An account whose commands another partition than the operator's decides: it sees the
    operator's Networks only through the catalogue table."""
    operator = partition_of(OPERATOR_ACCOUNT_SID, partitions)
    return next(
        sid
        for sid in (derive_sid("AC", f"catalogue-behind-{i}") for i in itertools.count())
        if partition_of(sid, partitions) != operator
    )


def behind_count() -> float:
    return metrics.CATALOGUE_BEHIND._value.get()


async def test_a_network_the_catalogue_has_not_shown_yet_is_waited_for_not_refused(topics, client):
    account = account_apart_from_the_operator(topics.partitions)
    async with running(topics) as processor:
        created = await client.execute(
            CreateAccount(friendly_name="catalogue", auth_token_hash="0" * 64),
            account_sid=account,
            timeout=60,
        )
        assert created.status == "accepted", created
        follower = processor.table.follower
        # The catalogue stalls here: the follower hands nothing over while its lock is held.
        await follower._lock.acquire()
        try:
            provisioned = await client.execute(
                ProvisionNetwork(
                    friendly_name="Late",
                    iso_country="US",
                    identifiers=[NetworkIdentifier(mcc="310", mnc="260")],
                ),
                account_sid=OPERATOR_ACCOUNT_SID,
                timeout=60,
            )
            [network] = [e.aggregate_id for e in provisioned.events]
            behind_before = behind_count()
            asked = asyncio.create_task(
                client.execute(
                    CreateNetworkAccessProfile(unique_name="late", networks=[network]),
                    account_sid=account,
                    timeout=120,
                )
            )
            # The partition found the catalogue behind at least once (and answered nothing).
            async with asyncio.timeout(60):
                while behind_count() == behind_before:  # noqa: ASYNC110 - a counter, no event
                    assert not asked.done(), asked.result()
                    await asyncio.sleep(0.05)
        finally:
            follower._lock.release()
        outcome = await asked
        assert outcome.status == "accepted", outcome.rejection
