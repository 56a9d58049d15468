"""One usage partition: its state, its transactional producer, its batches.

Same guarantees as the command processor (services/processor/partition.py): the state is a fold
of logs (the directory of events partition p, the usage state of usage-log partition p), and
each batch of reports is answered in ONE Kafka transaction: its usage-log records, the threshold
commands, the dead letters and the consumer offset. A crash leaves all of a batch or none of it;
a restart rebuilds from exactly what was committed, so no report counts twice and no command is
sent twice. The transactional id is fixed per partition: a new owner fences a zombie for good.

The clock lives here, not in the domain: every batch (and a tick when no report comes) asks
whether a new billing period began, which may resume suspended Sims.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime

from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka.structs import ConsumerRecord

from events.codec import InvalidMessage, encode_command
from events.commands import CommandEnvelope
from events.envelope import EventEnvelope
from events.usage import DataSessionReport, decode_facts, decode_report, encode_facts
from services.config import Settings
from services.log_reader import log_consumer, read_to_end
from services.partition_owner import QueuedWorker
from services.usage import metrics
from services.usage.directory import Directory
from services.usage.domain import REFUSALS, Batch, Verdict, command_for
from services.usage.follower import EventsFollower, directory_events
from services.usage.periods import BillingPeriod
from services.usage.state import UsageState

log = logging.getLogger(__name__)

MAX_BATCH = 20_000  # reports per transaction
TICK_SECONDS = 0.5  # how often an idle partition looks at the clock
ACTOR = "usage-processor"


class UsagePartition(QueuedWorker):
    label = "usage partition"
    max_batch = MAX_BATCH
    tick = TICK_SECONDS  # an idle partition still looks at the clock: a new period may begin

    def __init__(
        self, settings: Settings, partition: int, group_id: str, follower: EventsFollower
    ) -> None:
        super().__init__(partition)
        self.settings = settings
        self.group_id = group_id
        self.follower = follower
        self.rule = BillingPeriod.parse(settings.billing_period)
        self.usage_tp = TopicPartition(settings.usage_topic, partition)
        self.directory = Directory()
        self.state = UsageState(self.rule, settings.usage_dedup_periods)
        self.events_end = 0  # next offset of the events partition folded into the directory
        self._events: list[EventEnvelope] = []  # directory events not applied yet
        self._recheck_all = True  # after recovery every Sim is evaluated once
        self.producer = AIOKafkaProducer(
            bootstrap_servers=settings.kafka_bootstrap,
            transactional_id=f"fleetstate-usage.{settings.usage_topic}.{partition}",
            acks="all",
            enable_idempotence=True,
            linger_ms=0,
            retry_backoff_ms=3,  # see services/processor/partition.py: CONCURRENT_TRANSACTIONS
            max_batch_size=1024 * 1024,
            max_request_size=8 * 1024 * 1024,
        )

    # --- life cycle ------------------------------------------------------------------------

    async def start(self) -> None:
        """Fences any previous owner, then rebuilds the directory and the usage state."""
        await self.producer.start()
        started = time.monotonic()
        facts = await self._recover()
        metrics.RECOVERY_SECONDS.observe(time.monotonic() - started)
        log.info(
            "usage partition %d recovered: %d usage-log records, %d Sims, %.2fs",
            self.partition,
            facts,
            len(self.state.sims),
            time.monotonic() - started,
        )

    async def _recover(self) -> int:
        s = self.settings
        events_tp = TopicPartition(s.events_topic, self.partition)
        log_tp = TopicPartition(s.usage_log_topic, self.partition)
        consumer = log_consumer(s.kafka_bootstrap)
        await consumer.start()
        folded = 0
        try:
            # The directory first: it only has to be at least as new as the usage log.
            async for _, records in read_to_end(consumer, {events_tp: 0}):
                for event in directory_events(records):
                    self.directory.apply(event)
                self.events_end = records[-1].offset + 1
            async for _, records in read_to_end(consumer, {log_tp: 0}):
                for record in records:
                    self.state.apply_facts(decode_facts(record.value))
                    folded += 1
        finally:
            await consumer.stop()
        return folded

    async def follow_events(self) -> None:
        await self.follower.follow(self.partition, self.events_end, self.on_events)

    def on_events(self, events: list[EventEnvelope]) -> None:
        self._events.extend(events)
        self.wake()

    async def stop(self) -> None:
        await self.stop_answering()
        await self.follower.unfollow(self.partition)
        try:
            await self.producer.stop()
        except Exception:  # a fenced or broken producer has nothing left to flush
            log.debug("producer of usage partition %d stopped with an error", self.partition)

    # --- one batch -------------------------------------------------------------------------

    async def process(self, records: list[ConsumerRecord]) -> None:
        """Counts a batch of reports and commits everything it produced at once. On any error
        the state may hold what was never committed: the owner must rebuild this partition."""
        records = [r for r in records if r.offset >= self.next_offset]
        now = time.time()
        batch = Batch(self.state, self.directory)
        period_before = self.state.current_period
        self._apply_directory_events(batch)
        if self._recheck_all:
            batch.touch(set(self.state.sims))
            self._recheck_all = False
        batch.advance(self.rule.start_of(now))

        reports, dead = self._decode(records)
        if any(self.directory.resolve(r.account_sid, r.sim) is None for _, r in reports):
            # Perhaps registered a moment ago: read the events up to now before refusing it.
            await self.follower.caught_up(self.partition)
            self._apply_directory_events(batch)
        counted = 0
        for record, report in reports:
            verdict = batch.record(report, now)
            metrics.REPORTS.labels(verdict.value).inc()
            if verdict in REFUSALS:
                dead.append((record, REFUSALS[verdict]))
            elif verdict is not Verdict.DUPLICATE:
                counted += report.bytes_up + report.bytes_down
        changes = batch.settle()
        if not records and not changes and self.state.current_period == period_before:
            return
        started = time.monotonic()
        await self._commit(batch.facts(len(records)), changes, dead, records)
        metrics.TRANSACTION_SECONDS.observe(time.monotonic() - started)
        metrics.BATCH_REPORTS.observe(len(records))
        metrics.BYTES_COUNTED.inc(counted)
        for change in changes:
            metrics.DATA_STATE_CHANGES.labels(change.kind).inc()
        if records:
            self.next_offset = records[-1].offset + 1

    def _apply_directory_events(self, batch: Batch) -> None:
        events, self._events = self._events, []
        for event in events:
            batch.touch(self.directory.apply(event))

    def _decode(self, records: list[ConsumerRecord]):
        reports: list[tuple[ConsumerRecord, DataSessionReport]] = []
        dead: list[tuple[ConsumerRecord, str]] = []
        for record in records:
            try:
                report = decode_report(record.value)
            except InvalidMessage as exc:
                metrics.REPORTS.labels("invalid").inc()
                dead.append((record, exc.reason))
                continue
            if record.key != report.account_sid.encode():
                metrics.REPORTS.labels("invalid").inc()
                dead.append((record, f"record key {record.key!r} is not the account_sid"))
                continue
            reports.append((record, report))
        return reports, dead

    async def _commit(self, facts, changes, dead, records) -> None:
        s, producer = self.settings, self.producer
        issued_at = datetime.now(UTC)
        await producer.begin_transaction()
        try:
            for record in facts:
                await producer.send(
                    s.usage_log_topic, encode_facts(record), partition=self.partition
                )
            for change in changes:
                envelope = CommandEnvelope(
                    command_id=change.command_id,
                    account_sid=change.account_sid,
                    actor=ACTOR,
                    issued_at=issued_at,
                    command=command_for(change),
                )
                # Keyed by account like every command: it lands in partition p again.
                await producer.send(
                    s.commands_topic, encode_command(envelope), key=change.account_sid.encode()
                )
            for record, reason in dead:
                await producer.send(
                    s.usage_dlq_topic,
                    record.value,
                    key=record.key,
                    headers=[
                        ("source.topic", record.topic.encode()),
                        ("source.partition", str(record.partition).encode()),
                        ("source.offset", str(record.offset).encode()),
                        ("reason", reason.encode()),
                    ],
                )
            if records:
                await producer.send_offsets_to_transaction(
                    {self.usage_tp: records[-1].offset + 1}, self.group_id
                )
            await producer.commit_transaction()
        except BaseException:
            try:
                await producer.abort_transaction()
            except Exception:
                pass  # fenced or disconnected: the broker aborts it, the next owner recovers
            raise
