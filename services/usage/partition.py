"""One usage partition: its state, its transactional producer, its batches.

Same guarantees as the command processor, on the same runtime (services/runtime): the state
(the directory of Sims and Fleets, folded from events partition p, and the usage of usage-log
partition p) is restored from the partition's changelog, and each batch of reports is
answered in ONE Kafka transaction: its usage-log records, the threshold commands, the dead
letters, the changed state records and the consumer offset. A crash leaves all of a batch or
none of it, so no report counts twice and no command is sent twice. The transactional id is
fixed per partition: a new owner fences a zombie for good.

The clock lives here, not in the domain: every batch (and a tick when no report comes) asks
whether a new billing period began, which may resume suspended Sims.

When spans are exported (events.tracing), each report that carries a trace context gets a span
in that trace, from its batch's start to its commit. A data-limit command joins the trace of
the batch's last counted report of its Sim (its span, or its trace headers as they came).
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import msgspec
from aiokafka import TopicPartition
from aiokafka.structs import ConsumerRecord

from events import tracing
from events.codec import InvalidMessage, decode_event, encode_command
from events.commands import CommandEnvelope
from events.envelope import EventEnvelope
from events.usage import DataSessionReport, decode_facts, decode_report, encode_facts
from services.domain.periods import BillingPeriod
from services.log_reader import event_type
from services.runtime.changelog import META
from services.runtime.dead_letters import dead_letter
from services.runtime.tail import fold_tail
from services.runtime.worker import PartitionWorker
from services.usage import metrics
from services.usage.directory import DIRECTORY_EVENT_TYPES, Directory
from services.usage.domain import REFUSALS, Batch, Verdict, command_for
from services.usage.metrics import RUNTIME
from services.usage.state import UsageState

if TYPE_CHECKING:
    from services.usage.processor import UsageProcessor

log = logging.getLogger(__name__)

MAX_BATCH = 20_000  # reports per transaction
TICK_SECONDS = 0.5  # how often an idle partition looks at the clock
ACTOR = "usage-processor"
USAGE_KEY = b"u/"  # u/<sim>: a Sim's usage; the directory's keys are s/ and f/
_TYPES = {name.encode() for name in DIRECTORY_EVENT_TYPES}


class Meta(msgspec.Struct, frozen=True):
    """Where the changelog's state stands: written in every transaction."""

    events_end: int  # the directory has every event below this offset
    log_end: int  # the usage state has every usage-log record below this offset
    current_period: int


_encode_meta = msgspec.msgpack.Encoder().encode
_decode_meta = msgspec.msgpack.Decoder(Meta).decode


def directory_events(records: list[ConsumerRecord]) -> list[EventEnvelope]:
    """The events of `records` the directory needs, decoded; the others are skipped unread."""
    return [decode_event(r.value) for r in records if event_type(r) in _TYPES]


class UsagePartition(PartitionWorker):
    service = "usage"
    metrics = RUNTIME
    label = "usage partition"
    max_batch = MAX_BATCH
    tick = TICK_SECONDS  # an idle partition still looks at the clock: a new period may begin

    def __init__(self, usage: UsageProcessor, partition: int) -> None:
        """A partition of `usage`, which holds what all its partitions share."""
        settings = usage.settings
        changelog, group = settings.usage_changelog_topic, usage.group_id
        super().__init__(settings, partition, group, usage.sizes, changelog, settings.usage_topic)
        self.follower = usage.follower  # the events log, tailed once for every partition
        self.rule = BillingPeriod.parse(settings.billing_period)
        self.log_tp = TopicPartition(settings.usage_log_topic, partition)
        self.directory = Directory()
        self.state = UsageState(self.rule, settings.usage_dedup_periods)
        self.events_end = 0  # next offset of the events partition the directory has
        self.log_end = 0  # next offset of the usage-log partition the state has
        self._events: list[EventEnvelope] = []  # directory events not applied yet
        self._events_position = 0  # the events offset they reach
        self._recheck_all = True  # after a restore every Sim is evaluated once

    # --- restore ---------------------------------------------------------------------------

    async def restore(self, changelog: dict[bytes, bytes]) -> None:
        """The changelog's state, then the usage log and the events after it (none, unless
        the changelog was lost); then the events partition is followed."""
        meta_value = changelog.pop(META, None)
        meta = None if meta_value is None else _decode_meta(meta_value)
        if meta is not None:
            self.state.current_period = meta.current_period
        for key, value in changelog.items():
            if key.startswith(USAGE_KEY):
                self.state.load(key[len(USAGE_KEY) :].decode(), value)
            else:
                self.directory.load(key, value)
        self.directory.loaded()
        what = f"restoring usage partition {self.partition}:"
        self.log_end = await fold_tail(
            self.bootstrap, self.log_tp, meta.log_end if meta else 0, self._replay, what
        )
        self.events_end = await fold_tail(
            self.bootstrap, self.events_tp, meta.events_end if meta else 0, self._fold, what
        )
        self._events_position = self.events_end
        if meta is None or self.state.dirty or self.directory.dirty:
            await self._checkpoint()  # so the next restore needs no tail
        await self.follower.follow(self.partition, self.events_end, self._events_arrived)

    def _replay(self, records: list[ConsumerRecord]) -> None:
        for record in records:
            self.state.apply_facts(decode_facts(record.value))

    def _fold(self, records: list[ConsumerRecord]) -> None:
        for event in directory_events(records):
            self.directory.apply(event)

    def _events_arrived(self, records: list[ConsumerRecord], position: int) -> None:
        self._events.extend(directory_events(records))
        self._events_position = position
        self.wake()

    async def _checkpoint(self) -> None:
        async with self.transaction() as txn:
            await txn.write_changes(self._changes())

    async def stop(self) -> None:
        await super().stop()
        await self.follower.unfollow(self.partition, self._events_arrived)

    # --- one batch -------------------------------------------------------------------------

    async def process(self, records: list[ConsumerRecord]) -> None:
        """Counts a batch of reports and commits everything it produced at once. On any error
        the state may hold what was never committed: the owner restores this partition."""
        records = self.unanswered(records)
        if not records or not tracing.recording():
            await self._process(records, {})
            return
        spans = tracing.batch_spans(records, group=self.group_id, start_time=time.time_ns())
        try:
            await self._process(records, spans)
        finally:
            tracing.end_all(spans.values())

    async def _process(self, records: list[ConsumerRecord], spans: dict) -> None:
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
            await self.follower.caught_up(self.partition, timeout=2.0)
            self._apply_directory_events(batch)
        counted = 0
        causes: dict[str, list[tuple[str, bytes]]] = {}  # Sim -> trace of its last report
        for record, report in reports:
            verdict = batch.record(report, now)
            metrics.REPORTS.labels(verdict.value).inc()
            if verdict in REFUSALS:
                dead.append((record, REFUSALS[verdict]))
            elif verdict is not Verdict.DUPLICATE:
                counted += report.bytes_up + report.bytes_down
                if tracing.propagating() and record.headers:
                    self._note_cause(causes, record, report, spans)
        changes = batch.settle()
        logged = records or changes or self.state.current_period != period_before
        if not logged and not self.directory.dirty:
            return
        facts = batch.facts(len(records)) if logged else []
        await self._commit(facts, changes, dead, records, causes)
        metrics.BATCH_REPORTS.observe(len(records))
        metrics.BYTES_COUNTED.inc(counted)
        for change in changes:
            metrics.DATA_STATE_CHANGES.labels(change.kind).inc()
        if records:
            self.positions = self.positions_after(records)

    def _apply_directory_events(self, batch: Batch) -> None:
        events, self._events = self._events, []
        for event in events:
            batch.touch(self.directory.apply(event))
        self.events_end = self._events_position

    def _note_cause(self, causes: dict, record: ConsumerRecord, report, spans: dict) -> None:
        trace = tracing.caused_by(record, spans)
        sim = self.directory.resolve(report.account_sid, report.sim)
        if trace and sim is not None:
            causes[sim.sid] = trace

    def _decode(self, records: list[ConsumerRecord]):
        reports: list[tuple[ConsumerRecord, DataSessionReport]] = []
        dead: list[tuple[ConsumerRecord, str]] = []
        for record in records:
            if record.value is None:
                reason = "an empty record (null value) is not a usage report"
            elif len(record.value) > self.sizes.output:
                reason = f"too large: {len(record.value)} bytes, the limit is {self.sizes.output}"
            else:
                try:
                    report = decode_report(record.value)
                except InvalidMessage as exc:
                    reason = exc.reason
                else:
                    if record.key == report.account_sid.encode():
                        reports.append((record, report))
                        continue
                    reason = f"record key {record.key!r} is not the account_sid"
            metrics.REPORTS.labels("invalid").inc()
            dead.append((record, reason))
        return reports, dead

    def _changes(self) -> dict[bytes, bytes | None]:
        """Every state record changed since the last write, and where the state stands."""
        changes = {key: self.directory.record_of(key) for key in self.directory.dirty}
        self.directory.dirty.clear()
        for sid in self.state.dirty:
            changes[USAGE_KEY + sid.encode()] = self.state.record_of(sid)
        self.state.dirty.clear()
        changes[META] = _encode_meta(
            Meta(
                events_end=self.events_end,
                log_end=self.log_end,
                current_period=self.state.current_period,
            )
        )
        return changes

    async def _commit(self, facts, changes, dead, records, causes) -> None:
        s = self.settings
        issued_at = datetime.now(UTC)
        async with self.transaction() as txn:
            written = [
                await txn.send(s.usage_log_topic, encode_facts(f), partition=self.partition)
                for f in facts
            ]
            for change in changes:
                envelope = CommandEnvelope(
                    command_id=change.command_id,
                    account_sid=change.account_sid,
                    actor=ACTOR,
                    issued_at=issued_at,
                    command=command_for(change),
                )
                # Keyed by account like every command: it lands in partition p again, on the
                # topic only fleetstate's processors write.
                await txn.send(
                    s.internal_topic,
                    encode_command(envelope),
                    key=change.account_sid.encode(),
                    headers=causes.get(change.sim_sid),
                )
            for record, reason in dead:
                key, value, headers = dead_letter(record, reason, self.sizes.dead_letter)
                await txn.send(s.usage_dlq_topic, value, key=key, headers=headers)
            if written:
                # The changelog says where the usage log stands: after this batch's records.
                self.log_end = (await written[-1]).offset + 1
            await txn.write_changes(self._changes())
            if records:
                await self.commit_input(txn, self.positions_after(records))
