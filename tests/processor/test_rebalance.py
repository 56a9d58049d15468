"""Three processors started together on a long log settle in one rebalance: restoring (here a
rebuild of a million events, with no changelog yet) happens outside the rebalance callback, so
no member misses its heartbeats and the group never rebalances again while they restore."""

from __future__ import annotations

import asyncio
import re
import time

import msgspec
import pytest

from bench.event_log import event_chunks, produce
from events.client import CommandClient
from events.commands import CreateNetworkAccessProfile
from services.config import with_topic_prefix
from services.topics import ensure_topics
from tests.services import ServiceProcess

# Judged on timing (rebalances, faults): `make test` runs it alone, after the rest.
pytestmark = pytest.mark.serial

EVENTS = 1_000_000
PARTITIONS = 6
JOINED = re.compile(r"Joined group .* \(generation (\d+)\)")
ANSWERS = re.compile(r"processor answers partitions \[([0-9, ]*)\]")


def latest_answer(log: str) -> set[int] | None:
    found = ANSWERS.findall(log)
    if not found:
        return None
    return {int(p) for p in found[-1].split(",") if p.strip()}


@pytest.mark.timeout(600)
async def test_three_processors_on_a_million_events_own_disjoint_partitions_after_one_rebalance(
    base_settings, unique, tmp_path
):
    settings = msgspec.structs.replace(
        with_topic_prefix(base_settings, f"test-{unique}-6"), partitions=PARTITIONS
    )
    await ensure_topics(settings)
    produced, _ = await produce(
        settings.kafka_bootstrap,
        settings.events_topic,
        event_chunks(EVENTS, PARTITIONS, live=2000),
    )
    assert produced >= EVENTS
    members = [
        ServiceProcess("processor", settings, log_path=tmp_path / f"processor-{i}.log")
        for i in range(3)
    ]
    for member in members:
        member.start()
    try:
        deadline = time.monotonic() + 400
        while True:
            logs = [(tmp_path / f"processor-{i}.log").read_text() for i in range(3)]
            owned = [latest_answer(log) for log in logs]
            if all(o is not None for o in owned) and set().union(*owned) == set(
                range(PARTITIONS)
            ) and sum(len(o) for o in owned) == PARTITIONS:  # fmt: skip
                break
            assert time.monotonic() < deadline, "the group never settled:\n" + logs[0][-3000:]
            await asyncio.sleep(0.5)
        # Each member joined once per rebalance the joins themselves caused: one each at most.
        generations = {int(g) for log in logs for g in JOINED.findall(log)}
        assert max(generations) <= len(members), sorted(generations)
        assert all(len(o) == 2 for o in owned), owned
        assert all("restore failed" not in log for log in logs)
        # And the settled group answers.
        account = "AC" + "0" * 31 + "1"
        async with CommandClient(
            settings.kafka_bootstrap,
            commands_topic=settings.commands_topic,
            operator_topic=settings.operator_topic,
            internal_topic=settings.internal_topic,
            outcomes_topic=settings.outcomes_topic,
        ) as client:
            outcome = await client.execute(
                CreateNetworkAccessProfile(unique_name="after"), account_sid=account, timeout=60
            )
        assert outcome.status == "rejected" and outcome.rejection.code == 20404
    finally:
        for member in members:
            member.stop()
