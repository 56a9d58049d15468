"""SIGKILL at each step of a transaction, and of the checkpoint a restore writes when the
changelog was lost: afterwards every command is answered once, and the state a processor
restores from the changelog equals the fold of the committed log."""

from __future__ import annotations

import asyncio
import signal

import msgspec
import pytest

from bench.workload import Workload
from events.codec import decode_outcome
from services.log_reader import read_all
from services.processor.memory import command_key
from services.topics import ensure_topics
from tests.processor.inprocess import (
    first_difference,
    fold_of_the_log,
    own_state,
    running,
    until_ready,
)
from tests.processor.support import assert_log_is_exactly_once, committed_log, settled_log
from tests.services import ServiceProcess

STEPS = ["events", "outcomes", "changelog", "commit", "committed", "checkpoint"]


async def in_chunks(client, phases, size: int = 50) -> None:
    """Chunk after chunk, each answered before the next: many transactions. Phase after
    phase: the operator's commands (on their own topic) are answered before the accounts'."""
    for commands in phases:
        for start in range(0, len(commands), size):
            await client.execute_many(commands[start : start + size], timeout=300)


@pytest.mark.parametrize("step", STEPS)
async def test_a_kill_at_any_step_leaves_a_changelog_that_restores_the_fold_of_the_log(
    topics, client, tmp_path, step
):
    workload = Workload(seed=STEPS.index(step), accounts=6, sims_per_account=2)
    operator = workload.operator_commands()
    first = operator + workload.setup_commands()
    later = workload.steady_commands(400)
    settings, phases, nth = topics, [operator, first[len(operator) :] + later], 3
    if step == "checkpoint":
        # A log made by a plain processor; then its changelog is lost (a new, empty topic),
        # and the next processor rebuilds from offset 0 and writes it anew: killed then.
        plain = ServiceProcess("processor", topics, log_path=tmp_path / "plain.log")
        plain.start()
        try:
            await in_chunks(client, [operator, first[len(operator) :]], size=len(first))
        finally:
            plain.stop()
        lost = topics.processor_changelog_topic + ".lost"
        settings = msgspec.structs.replace(topics, processor_changelog_topic=lost)
        await ensure_topics(settings)
        phases, nth = [later], 1

    killed = ServiceProcess(
        "killing", settings, step, str(nth), log_path=tmp_path / "killed.log",
        module="tests.processor.killing",
    )  # fmt: skip
    killed.start()
    sending = asyncio.create_task(in_chunks(client, phases))
    await asyncio.to_thread(killed.process.wait)
    killed_log = (tmp_path / "killed.log").read_text()
    assert killed.process.returncode == -signal.SIGKILL, killed_log[-3000:]
    if step == "checkpoint":  # the rebuild says what it does
        assert "records from offset 0" in killed_log
    survivor = ServiceProcess("processor", settings, log_path=tmp_path / "survivor.log")
    survivor.start()
    try:
        await sending
        # A Sim's address comes in steps after its activation's answer: settled before the
        # survivor stops, else the next processor decides them while it is compared.
        await settled_log(settings)
    finally:
        survivor.stop()

    events, outcomes = await committed_log(settings)
    assert_log_is_exactly_once(events, outcomes, [c.command_id for c in first + later])
    expected = await fold_of_the_log(settings)
    answered = await read_all(settings.kafka_bootstrap, settings.outcomes_topic)
    async with running(settings) as processor:
        await until_ready(processor, settings.partitions)
        for partition, worker in processor.partitions.items():
            empty = ({}, {}, {}, {})
            difference = first_difference(own_state(worker.store), expected.get(partition, empty))
            assert difference is None, difference
            for record in answered[partition]:
                outcome = decode_outcome(record.value)
                key = command_key(outcome.account_sid, outcome.command_id, outcome.sender)
                assert worker.memory.offsets(key), f"{outcome.command_id} was forgotten"
