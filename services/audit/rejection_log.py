"""`fleetstate rejections`: an account's refused commands, read from the outcomes topic and
joined by command_id with the commands topic.

Both topics are keyed by account_sid and the processor answers commands partition p on
outcomes partition p, so only the account's partition of each is read (the one Kafka's
default partitioner gives its key). With --since, the outcomes are read from that moment on
(offsets by timestamp) and the commands from COMMAND_LOOKBACK earlier: a command is sent
before it is decided, normally milliseconds before; one that waited longer than that for the
processor is listed without its "what". The refused steps of the processor's own processes
(services/domain/follow_ups.py) are left out: each is an expected turn of a process, and what
a sender asked is listed by its own command's refusal.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from aiokafka import TopicPartition
from aiokafka.partitioner import DefaultPartitioner

from events.codec import InvalidMessage, decode_command, decode_outcome
from events.commands import PROCESS_STEPS, CommandEnvelope
from events.envelope import Outcome
from services.audit.log_scan import partition_bounds, scan, scan_consumer
from services.audit.rejections import RejectedCommand, rejected_commands
from services.config import Settings

COMMAND_LOOKBACK = timedelta(days=1)
CLOCK_SLACK = timedelta(minutes=1)  # record timestamps are the producer's clock


def account_partition(account_sid: str, partitions: list[int]) -> int:
    return DefaultPartitioner()(account_sid.encode(), sorted(partitions), [])


async def _read(consumer, settings, topic, account_sid, since) -> list:
    bounds = await partition_bounds(consumer, settings.kafka_bootstrap, topic)
    p = account_partition(account_sid, list(bounds))
    start, end = bounds[p]
    if since is not None:
        tp = TopicPartition(topic, p)
        found = await consumer.offsets_for_times({tp: int(since.timestamp() * 1000)})
        start = found[tp].offset if found.get(tp) is not None else end
    key = account_sid.encode()
    out = []
    async for _, records in scan(consumer, topic, {p: (start, end)}):
        out.extend(r.value for r in records if r.key == key)
    return out


async def rejections(
    settings: Settings, account_sid: str, since: datetime | None = None
) -> list[RejectedCommand]:
    consumer = scan_consumer(settings.kafka_bootstrap)
    await consumer.start()
    try:
        topic = settings.outcomes_topic
        outcome_since = since - CLOCK_SLACK if since else None
        values = await _read(consumer, settings, topic, account_sid, outcome_since)
        outcomes: list[Outcome] = []
        for value in values:
            try:
                outcome = decode_outcome(value)
            except InvalidMessage:
                continue  # not an outcome this reader knows: nothing to list
            if outcome.sender == "tenant":  # the account's own; not the operator's, no steps
                outcomes.append(outcome)
        wanted = {o.command_id for o in outcomes if o.status == "rejected"}
        commands: dict[str, CommandEnvelope] = {}
        if wanted:
            command_since = since - COMMAND_LOOKBACK if since else None
            topic = settings.commands_topic
            for value in await _read(consumer, settings, topic, account_sid, command_since):
                try:
                    command = decode_command(value)
                except InvalidMessage:
                    continue  # dead-lettered: its outcome says why, the DLQ keeps it raw
                if command.command_id in wanted:
                    commands.setdefault(command.command_id, command)
    finally:
        await consumer.stop()
    # Logs from before steps had a topic of their own hold them on the commands topic.
    steps = {i for i, c in commands.items() if isinstance(c.command, PROCESS_STEPS)}
    outcomes = [o for o in outcomes if o.command_id not in steps]
    return rejected_commands(outcomes, commands, account_sid, since)
