"""One command partition: its state, its memory of answered commands, its decisions.

The partition's state is the fold of its events partition, restored from its changelog
(services/runtime). Each batch of commands is answered in ONE Kafka transaction: the events,
the outcomes, the dead letters, the changed state records, the catalogue facts and the input
offset. A batch whose transaction fails or is fenced is dropped with the whole worker (the
owner restores the partition from what was committed), so no decision that is not in the log
is ever seen by another.

A partition also decides the SIM cards whose ICCIDs land in it (their one writer), and a
decision may send commands to other partitions, the steps of the processes in
services/domain/follow_ups.py, in its own transaction. A command answered by such a process
(RegisterSim, a move) gets its outcome when the process answers it, in the transaction of that
step; until then a repeat of it is answered by nothing either.

A command id this partition answered within the horizon is answered again with its first
outcome, read back from the outcomes partition, and appends nothing (memory.py); while that
outcome cannot be read, its batch fails and waits for the restore (outcome_reader.py). A command
issued longer ago than the horizon, by the broker's clock, is refused: it may be a retry of
one answered and forgotten, and deciding it again could append its events twice.

Commands arrive on three co-partitioned topics, one per kind of sender (tenants, the
operator, fleetstate's own processors), and partition p of each is answered here. A command is
decided only from the topic of its kind (events.commands.sender_of): an operator command or a
process step written to the tenants' topic is refused, and on the record as refused, because
the broker's ACLs, not the record, say who wrote it. Command ids are remembered per kind of
sender.

Anything that is not a command this partition can decide (a null value, undecodable bytes,
a record keyed by another account, one too large to decide) gets a rejected outcome and goes,
raw, to the dead-letter topic; the partition goes on.

A command's trace context (its `traceparent` header, events.tracing) goes on in the headers of
its events, its outcome and the steps it sends; when spans are exported, each command is
decided in a span of its own, a child of its sender's, and each transaction has a span linked
to the commands it commits.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import msgspec
from aiokafka import TopicPartition
from aiokafka.errors import KafkaError
from aiokafka.structs import ConsumerRecord
from opentelemetry.trace import Link, Span, use_span

from events import tracing
from events.chain import GENESIS_HASH, link_hash
from events.codec import (
    InvalidMessage,
    decode_command,
    decode_event,
    decode_outcome,
    encode_command,
    encode_event,
    encode_outcome,
)
from events.commands import (
    AbandonSimRegistration,
    AddNetworkToProfile,
    CommandEnvelope,
    CreateNetworkAccessProfile,
    Sender,
    partition_key,
    sender_of,
)
from events.envelope import EventEnvelope, Outcome, Rejection, event_ref, outcome_of
from services.config import Settings, ip_pools_of
from services.domain import decide
from services.domain.follow_ups import answered, awaiting, follow_ups, placed
from services.log_reader import log_consumer
from services.processor import metrics
from services.processor.memory import (
    FUTURE_TOLERANCE_MS,
    HOUR_MS,
    PACK_PREFIX,
    CommandMemory,
    command_key,
)
from services.processor.metrics import RUNTIME
from services.processor.outcome_reader import GONE, OutcomeReader
from services.processor.store import PartitionState
from services.runtime.changelog import META
from services.runtime.dead_letters import dead_letter
from services.runtime.tail import fold_tail
from services.runtime.worker import PartitionWorker

if TYPE_CHECKING:
    from services.processor.app import Processor

log = logging.getLogger(__name__)

MAX_BATCH = 2000  # commands answered in one transaction
# Commands whose refusal may only mean the catalogue table has not shown a fact yet (a
# Network provisioned a moment ago): refused only once the table has caught up.
CATALOGUE_COMMANDS = (AddNetworkToProfile, CreateNetworkAccessProfile)
CATALOGUE_WAIT_SECONDS = 2.0


class CatalogueBehind(RuntimeError):
    """A command's answer depends on Networks this process cannot read up to now."""


SENDER_NAMES: dict[Sender, str] = {
    "tenant": "an account (the commands topic)",
    "operator": "the operator (the operator's commands topic)",
    "internal": "fleetstate's processors (the internal commands topic)",
}


def input_topics(settings: Settings) -> dict[str, Sender]:
    """The topics commands arrive on, and the kind of sender each is written by."""
    return {
        settings.commands_topic: "tenant",
        settings.operator_topic: "operator",
        settings.internal_topic: "internal",
    }


class Meta(msgspec.Struct, frozen=True):
    """Where the changelog's state stands: written in every transaction."""

    events_end: int  # the events partition is folded below this offset
    last_hash: str  # link_hash of the last event: the next event's prev_hash
    stream_time_ms: int  # the latest command timestamp answered
    packed_until: int  # the first outcomes below this offset are in the changelog's packs


_encode_meta = msgspec.msgpack.Encoder().encode
_decode_meta = msgspec.msgpack.Decoder(Meta).decode


class _Answer:
    """What one command produced, before it is written."""

    __slots__ = (
        "outcome", "events", "dead_letter", "remember", "same_as", "sends", "settles", "result",
        "trace", "span",
    )  # fmt: skip

    def __init__(self, outcome: Outcome | None, events=(), dead_letter=None, remember=None):
        self.outcome = outcome  # None: answered later, by a step of its process
        self.events: list[EventEnvelope] = list(events)
        self.dead_letter = dead_letter  # (key, value, headers)
        self.remember: tuple[int, int] | None = remember  # (command key, time) of a new answer
        self.same_as: _Answer | None = None  # a repeat of a command of the same batch
        self.sends: list[CommandEnvelope] = []  # steps asked of other partitions
        # An earlier command this one answers: (its answer, its key, extra events), the
        # answer's outcome naming this command's own events once they have positions.
        self.settles: tuple[_Answer, int, list] | None = None
        # The trace headers of what it caused (events, outcome, steps): its command's context.
        self.trace: list[tuple[str, bytes]] = []
        self.span: Span | None = None  # its decision's span, when spans are exported


class CommandPartition(PartitionWorker):
    service = "processor"
    metrics = RUNTIME
    max_batch = MAX_BATCH

    def __init__(self, processor: Processor, partition: int) -> None:
        """A partition of `processor`, which holds what all its partitions share."""
        settings = processor.settings
        changelog, group = settings.processor_changelog_topic, processor.group_id
        super().__init__(
            settings, partition, group, processor.sizes, changelog, settings.commands_topic
        )
        self.processor = processor
        self.senders: dict[str, Sender] = input_topics(settings)
        self.catalogue = processor.catalogue  # every partition's committed Networks
        self.table = processor.table  # where this partition publishes its own
        self.limits = processor.limits
        self.store = PartitionState()
        self.memory = CommandMemory(settings.command_dedup_hours * HOUR_MS)
        self.unpacked: list[tuple[int, int, int]] = []  # remembered, not in a pack yet
        self.outcomes_tp = TopicPartition(settings.outcomes_topic, partition)
        self.reader = OutcomeReader(settings.kafka_bootstrap, self.outcomes_tp)
        self.last_hash = GENESIS_HASH
        self.events_end = 0  # next offset of the events partition
        self.next_event_offset = 0  # where this worker's next event will land
        self.outcomes_end = 0  # next offset of the outcomes partition
        self.packed_until = 0
        self.stream_time = 0
        # A card held longer than this for a registration the account's partition has not
        # answered is asked about again (AbandonSimRegistration): the account's partition
        # finishes the registration one way or the other. An idle partition looks each tick.
        self.stale_after = settings.card_reservation_seconds
        self.ip_pools = ip_pools_of(settings)  # checked at start: load_settings parsed it
        self.tick = min(5.0, self.stale_after / 2)
        self.looked_at = 0.0  # when (monotonic) stale reservations were last looked for
        self.abandon_asked: dict[str, float] = {}  # iccid -> when (monotonic) last asked

    # --- restore ---------------------------------------------------------------------------

    async def restore(self, changelog: dict[bytes, bytes]) -> None:
        """The changelog's state, then the events after it (none, unless the changelog was
        lost), then the commands answered after its last pack (a batch at most; with no
        changelog, those of the horizon)."""
        meta_value = changelog.pop(META, None)
        meta = None if meta_value is None else _decode_meta(meta_value)
        for key, value in changelog.items():
            if key.startswith(PACK_PREFIX):
                self.memory.load(key, value)
            else:
                self.store.load(key, value)
        if meta is not None:
            self.last_hash, self.stream_time = meta.last_hash, meta.stream_time_ms
        what = f"restoring command partition {self.partition}:"
        self.events_end = await fold_tail(
            self.bootstrap, self.events_tp, meta.events_end if meta else 0, self._fold, what
        )
        self.next_event_offset = self.events_end  # the partition's end: every owner fenced
        self.packed_until = meta.packed_until if meta else await self._horizon_start()
        self.outcomes_end = await fold_tail(
            self.bootstrap, self.outcomes_tp, self.packed_until, self._recall, what
        )
        self.store.attach(self.catalogue)
        published = self.catalogue.records()
        self.store.published.update(k for k in self.store.own_facts() if k not in published)
        if meta is None or self.store.dirty or self.store.published:
            await self._checkpoint()  # so the next restore needs no tail

    def _fold(self, records: list[ConsumerRecord]) -> None:
        for record in records:
            self.store.fold(decode_event(record.value))
            self.last_hash = link_hash(record.value)
        metrics.RECOVERED_EVENTS.inc(len(records))

    def _recall(self, records: list[ConsumerRecord]) -> None:
        for record in records:
            try:
                outcome = decode_outcome(record.value)
            except InvalidMessage:
                continue
            key = command_key(outcome.account_sid, outcome.command_id, outcome.sender)
            self.memory.remember(key, record.offset, record.timestamp)
            self.unpacked.append((key, record.offset, record.timestamp))

    async def _horizon_start(self) -> int:
        """The first outcome of the horizon: with no changelog, where remembering starts."""
        since = int(time.time() * 1000) - self.memory.horizon_ms - FUTURE_TOLERANCE_MS - HOUR_MS
        consumer = log_consumer(self.bootstrap)
        await consumer.start()
        try:
            found = (await consumer.offsets_for_times({self.outcomes_tp: since}))[self.outcomes_tp]
            if found is not None:
                return found.offset
            return (await consumer.end_offsets([self.outcomes_tp]))[self.outcomes_tp]
        finally:
            await consumer.stop()

    async def _checkpoint(self) -> None:
        """Writes what restoring changed, with no input: a transaction of state alone."""
        async with self.transaction() as txn:
            await self._write_state(txn)
        self.unpacked = []

    async def stop(self) -> None:
        await super().stop()
        await self.reader.stop()

    # --- deciding --------------------------------------------------------------------------

    async def process(self, records: list[ConsumerRecord]) -> None:
        """Decides a batch and commits all its answers at once. On any error the state may
        hold uncommitted decisions: the owner drops this worker and restores the partition."""
        records = self.unanswered(records)
        if records:
            answers = await self._answer_all(records)
            positions = self.positions_after(records)
            await self._commit(answers, positions)
            self.positions = positions
        if time.monotonic() - self.looked_at >= self.tick:  # busy or idle
            self.looked_at = time.monotonic()
            await self._ask_about_stale_reservations()

    async def _answer_all(self, records: list[ConsumerRecord]) -> list[_Answer]:
        parsed = [(record, *self._parse(record)) for record in records]
        # Commands this partition may have answered before: their first outcomes, read once.
        maybe_seen = {
            offset
            for record, envelope, _ in parsed
            if envelope is not None
            for offset in self.memory.offsets(self._key(record, envelope))
        }
        firsts = await self.reader.read(sorted(maybe_seen)) if maybe_seen else {}
        answers: list[_Answer] = []
        in_batch: dict[tuple[str, str, str], _Answer] = {}
        for record, envelope, reason in parsed:
            if not tracing.recording():  # the command's trace context goes on as it came
                answer = await self._answer(record, envelope, reason, firsts, in_batch)
                answer.trace = tracing.relay(record.headers)
                answers.append(answer)
                continue
            context = tracing.extract(record.headers)
            span = tracing.process_span(record, context, _attributes(envelope), group=self.group_id)
            try:
                answer = await self._answer(record, envelope, reason, firsts, in_batch)
                span.set_attributes(_answered(answer))
            finally:
                span.end()
            answer.trace, answer.span = tracing.forwarded(span, context), span
            answers.append(answer)
        return answers

    async def _answer(
        self,
        record: ConsumerRecord,
        envelope: CommandEnvelope | None,
        reason: str,
        firsts: dict,
        in_batch: dict[tuple[str, str, str], _Answer],
    ) -> _Answer:
        """One command's answer: a dead letter, a repeat's first outcome, or a decision."""
        now_ms = record.timestamp if record.timestamp >= 0 else int(time.time() * 1000)
        self.stream_time = max(self.stream_time, now_ms)
        if envelope is None:
            return self._dead_letter(record, reason, now_ms)
        sender = self.senders[record.topic]
        ident = (envelope.account_sid, envelope.command_id, sender)
        key = self._key(record, envelope)
        earlier = in_batch.get(ident)
        first = self._first_outcome(key, ident, firsts)
        if earlier is not None or first is not None:
            metrics.COMMANDS.labels("duplicate").inc()
            answer = _Answer(first)
            answer.same_as = earlier
            return answer
        answer = await self._decide(record, envelope, now_ms)
        if answer.outcome is not None:
            answer.remember = (key, now_ms)
            in_batch[ident] = answer
        if answer.settles is not None:
            # A repeat of the request it answers, later in this batch, gets that answer.
            settled = answer.settles[0].outcome
            in_batch[(settled.account_sid, settled.command_id, settled.sender)] = answer.settles[0]
        return answer

    def _first_outcome(self, key: int, ident, firsts: dict) -> Outcome | None:
        for offset in self.memory.offsets(key):
            outcome = firsts[offset]
            if outcome is GONE:
                # Answered (or, at odds of 2**-64, another id of this hash): never decided
                # twice, so refused, naming why.
                return _answer_gone(*ident)
            if (outcome.account_sid, outcome.command_id, outcome.sender) == ident:
                return outcome
        return None  # never seen, or only a hash collision

    def _parse(self, record: ConsumerRecord) -> tuple[CommandEnvelope | None, str]:
        if record.value is None:
            return None, "an empty record (null value) is not a command"
        if len(record.value) > self.sizes.output:
            return None, (
                f"too large to decide: {len(record.value)} bytes, the limit is {self.sizes.output}"
            )
        try:
            envelope = decode_command(record.value)
        except InvalidMessage as exc:
            return None, exc.reason
        if partition_key(envelope).encode() != record.key:
            return None, f"record key {record.key!r} is not {partition_key(envelope)!r}"
        return envelope, ""

    def _key(self, record: ConsumerRecord, envelope: CommandEnvelope) -> int:
        return command_key(envelope.account_sid, envelope.command_id, self.senders[record.topic])

    async def _decide(
        self, record: ConsumerRecord, envelope: CommandEnvelope, now_ms: int
    ) -> _Answer:
        sender = self.senders[record.topic]
        rejection = self._from_elsewhere(envelope, sender) or self._too_old_or_early(
            envelope, now_ms
        )
        started = time.perf_counter()
        if rejection is not None:
            result: list[EventEnvelope] | Rejection | Exception = rejection
        else:
            result = self._decided(envelope)
            if isinstance(result, Rejection) and isinstance(envelope.command, CATALOGUE_COMMANDS):
                # Perhaps provisioned a moment ago: read the catalogue up to now first.
                await self._read_catalogue_up_to_now()
                result = self._decided(envelope)
            if isinstance(result, Exception):
                return self._dead_letter(
                    record, f"could not be decided ({type(result).__name__})", now_ms
                )
        events = [] if isinstance(result, Rejection) else result
        for event in events:
            self.store.apply(event)
        metrics.DECIDE_SECONDS.observe(time.perf_counter() - started)
        state = self.store.state
        outcome = None
        if not awaiting(state, envelope):  # else answered by a later step of its process
            outcome = outcome_of(envelope, result, datetime.now(UTC), sender)
            metrics.COMMANDS.labels(outcome.status).inc()
        answer = _Answer(outcome, events=self._chain(events, record.offset, sender))
        answer.sends = follow_ups(state, envelope, result, self.ip_pools)
        settled = answered(envelope, result)
        if settled is not None:
            # The request a process answers is a tenant's (a RegisterSim, a move).
            account_sid, request_id, rejection, elsewhere = settled
            first = Outcome(
                command_id=request_id,
                account_sid=account_sid,
                status="accepted" if rejection is None else "rejected",
                rejection=rejection,
                decided_at=datetime.now(UTC),
            )
            answer.settles = (_Answer(first), command_key(account_sid, request_id), elsewhere)
        return answer

    def _decided(self, envelope: CommandEnvelope) -> list[EventEnvelope] | Rejection | Exception:
        try:
            return decide(self.store.state, envelope, self.limits)
        except Exception as exc:  # a bug must not stop the line: park the command, go on
            log.exception("decide failed for command %s", envelope.command_id)
            return exc

    async def _read_catalogue_up_to_now(self) -> None:
        """Returns once this process's catalogue holds every Network committed so far; while
        it cannot (its follower behind, the broker away), raises, so that the batch is not
        committed but asked again after a restore: a refusal is for good, and refusing a
        Network the catalogue has not shown yet would refuse a valid command."""
        try:
            if await self.table.caught_up(CATALOGUE_WAIT_SECONDS):
                return
            reason = f"not read up to now within {CATALOGUE_WAIT_SECONDS:g} s"
        except KafkaError as exc:
            reason = f"unreadable ({type(exc).__name__})"
        metrics.CATALOGUE_BEHIND.inc()
        raise CatalogueBehind(f"the Networks catalogue is {reason}: the batch is asked again")

    def _from_elsewhere(self, envelope: CommandEnvelope, sender: Sender) -> Rejection | None:
        """A command on the topic of another kind of sender: whoever wrote it may not ask it."""
        kind = sender_of(envelope.command)
        if kind == sender:
            return None
        metrics.COMMANDS.labels("wrong_topic").inc()
        return Rejection(
            400,
            20001,
            f"{type(envelope.command).__name__} is not accepted from {SENDER_NAMES[sender]}: "
            f"only {SENDER_NAMES[kind]} may send it",
        )

    def _too_old_or_early(self, envelope: CommandEnvelope, now_ms: int) -> Rejection | None:
        issued_ms = int(envelope.issued_at.timestamp() * 1000)
        if now_ms - issued_ms > self.memory.horizon_ms:
            hours = self.memory.horizon_ms // HOUR_MS
            return Rejection(
                400,
                20001,
                f"command {envelope.command_id!r} was issued at {envelope.issued_at.isoformat()}, "
                f"more than {hours} hours before it reached the log: too old to tell from a "
                "retry of a command already answered, so it is not decided; send a new "
                "command, with a new id",
            )
        if issued_ms - now_ms > FUTURE_TOLERANCE_MS:
            return Rejection(
                400,
                20001,
                f"command {envelope.command_id!r} was issued at {envelope.issued_at.isoformat()}, "
                f"more than {FUTURE_TOLERANCE_MS // 60_000} minutes ahead of the log's clock: "
                "check the sender's clock",
            )
        return None

    def _dead_letter(self, record: ConsumerRecord, reason: str, now_ms: int) -> _Answer:
        """Not a command: rejected with the reason, kept raw in the DLQ."""
        metrics.COMMANDS.labels("dead_letter").inc()
        command_id, account_sid = _best_effort_ids(record)
        sender = self.senders[record.topic]
        outcome = Outcome(
            command_id=command_id,
            account_sid=account_sid,
            status="rejected",
            rejection=Rejection(400, 20001, f"invalid command: {reason}"),
            decided_at=datetime.now(UTC),
            sender=sender,
        )
        letter = dead_letter(record, reason, self.sizes.dead_letter)
        key = command_key(account_sid, command_id, sender)
        return _Answer(outcome, dead_letter=letter, remember=(key, now_ms))

    def _chain(
        self, events: list[EventEnvelope], command_offset: int, sender: Sender = "tenant"
    ) -> list[EventEnvelope]:
        """Stamps each event with the command offset it answers (in its sender's topic) and
        the hash of the event before it in this partition (the tamper-evidence chain)."""
        chained = []
        for event in events:
            event = msgspec.structs.replace(
                event,
                command_offset=command_offset,
                command_sender=sender,
                prev_hash=self.last_hash,
            )
            self.last_hash = link_hash(encode_event(event))
            chained.append(event)
        return chained

    # --- writing ---------------------------------------------------------------------------

    async def _commit(self, answers: list[_Answer], answered_until) -> None:
        remembered = []
        if tracing.recording():
            with use_span(self._transaction_span(answers), end_on_exit=True):
                await self._write_answers(answers, answered_until, remembered)
        else:
            await self._write_answers(answers, answered_until, remembered)
        # Committed: these outcomes are now the first answers to their commands.
        self.unpacked = []
        for (key, at_ms), future in remembered:
            offset = future.result().offset
            self.memory.remember(key, offset, at_ms)
            self.unpacked.append((key, offset, at_ms))

    def _transaction_span(self, answers: list[_Answer]) -> Span:
        """The batch's transaction: a trace of its own, linked to each command's decision."""
        links = [Link(a.span.get_span_context()) for a in answers if a.span is not None]
        return tracing.TRACER.start_span(
            "commit transaction",
            context=tracing.ROOT,
            links=links,
            attributes={
                **tracing.KAFKA,
                "messaging.batch.message_count": len(answers),
                "messaging.destination.partition.id": str(self.partition),
            },
        )

    async def _write_answers(self, answers: list[_Answer], answered_until, remembered) -> None:
        s, p = self.settings, self.partition
        async with self.transaction() as txn:
            # Events first: their offsets go into the outcomes ("accepted, at these positions").
            pending = []
            for answer in answers:
                for event in answer.events:
                    pending.append(
                        await txn.send(
                            s.events_topic,
                            encode_event(event),
                            key=event.account_sid.encode(),
                            partition=p,
                            headers=[("type", event.type.encode()), *answer.trace],
                        )
                    )
            offsets = self._event_offsets(len(pending))
            if offsets is None:
                offsets = [(await future).offset for future in pending]
            positions = iter(offsets)
            last_outcome = None
            for answer in answers:
                refs = [
                    msgspec.structs.replace(event_ref(e), partition=p, offset=next(positions))
                    for e in answer.events
                ]
                metrics.EVENTS_APPENDED.inc(len(refs))
                if refs and answer.outcome is not None:
                    answer.outcome = msgspec.structs.replace(answer.outcome, events=refs)
                outcome = answer.same_as.outcome if answer.same_as else answer.outcome
                if outcome is not None:
                    last_outcome = await txn.send(
                        s.outcomes_topic,
                        encode_outcome(outcome),
                        key=outcome.account_sid.encode(),
                        partition=p,
                        headers=answer.trace or None,
                    )
                    if answer.remember is not None:
                        remembered.append((answer.remember, last_outcome))
                if answer.settles is not None:
                    settled, key, elsewhere = answer.settles
                    first = settled.outcome
                    if first.status == "accepted":
                        first = msgspec.structs.replace(first, events=[*elsewhere, *refs])
                        settled.outcome = first
                    last_outcome = await txn.send(
                        s.outcomes_topic,
                        encode_outcome(first),
                        key=first.account_sid.encode(),
                        partition=p,
                        headers=answer.trace or None,
                    )
                    remembered.append(((key, self.stream_time), last_outcome))
                for step in answer.sends:
                    await self._send(txn, placed(step, refs), answer.trace)
                if answer.dead_letter is not None:
                    key, value, headers = answer.dead_letter
                    await txn.send(s.dlq_topic, value, key=key, headers=headers)
            if offsets:
                self.events_end = offsets[-1] + 1
            await self._write_state(txn)
            await self.commit_input(txn, answered_until)
            landed = [(await future).offset for future in pending]
            if landed != offsets:  # never committed: the outcomes would name other records
                self.processor.event_offsets_predictable = False
                raise EventsElsewhere(
                    f"events partition {p}: a batch's events landed at offsets "
                    f"{landed[0]}-{landed[-1]}, not {offsets[0]}-{offsets[-1]}; aborted, to "
                    "be answered again after a restore (offsets are awaited from now on)"
                )
        if offsets:
            self.next_event_offset = offsets[-1] + 2  # the commit's marker takes one offset
        if last_outcome is not None:
            self.outcomes_end = last_outcome.result().offset + 1

    def _event_offsets(self, count: int) -> list[int] | None:
        """The offsets a batch's `count` events will land at, known before the broker answers:
        this worker alone writes its events partition (a new owner fences it first), and each
        of its committed transactions ends there with one marker. So the outcomes naming them
        go in the same produce request as the events, not one round trip later;
        `_write_answers` checks the broker's answer before committing. None: await the broker
        instead."""
        if not self.processor.event_offsets_predictable:
            return None
        return list(range(self.next_event_offset, self.next_event_offset + count))

    async def _send(self, txn, envelope: CommandEnvelope, trace=None) -> None:
        """A step of a process, to the partition of its key (this one, perhaps), on the topic
        only fleetstate's processors write; in the trace of the command that caused it."""
        await txn.send(
            self.settings.internal_topic,
            encode_command(envelope),
            key=partition_key(envelope).encode(),
            headers=trace or None,
        )

    async def _ask_about_stale_reservations(self) -> None:
        """Cards held too long for a registration: the account's partition is asked to finish
        it (it answers with ConfirmSimCard or ReleaseSimCard). Asked again every so often."""
        now, wall = time.monotonic(), datetime.now(UTC)
        stale = [
            card
            for card in self.store.state.sim_cards.values()
            if card.reserved_for is not None
            and card.reserved_at is not None
            and (wall - card.reserved_at).total_seconds() > self.stale_after
            and now - self.abandon_asked.get(card.iccid, -1e9) > self.stale_after
        ]
        if not stale:
            return
        async with self.transaction() as txn:
            for card in stale:
                holder = card.reserved_for
                ask = CommandEnvelope(
                    command_id=f"abandon:{card.iccid}:{holder.sim_sid}:{int(wall.timestamp())}",
                    account_sid=holder.account_sid,
                    actor="card-registry",
                    issued_at=wall,
                    command=AbandonSimRegistration(
                        sim=holder.sim_sid, iccid=card.iccid, request_id=card.reserved_request
                    ),
                )
                await self._send(txn, ask)
        for card in stale:
            self.abandon_asked[card.iccid] = now

    async def _write_state(self, txn) -> None:
        """The records this transaction changed, the packs of earlier answers and where the
        state stands; the own catalogue facts to the table."""
        changes = self.store.changes()
        changes.update(self.memory.pack(self.unpacked))
        for gone in self.memory.expire(self.stream_time):
            changes[gone] = None
        changes[META] = _encode_meta(
            Meta(
                events_end=self.events_end,
                last_hash=self.last_hash,
                stream_time_ms=self.stream_time,
                packed_until=self.outcomes_end,
            )
        )
        await txn.write_changes(changes)
        for key, value in self.store.publications().items():
            await txn.send(self.settings.catalogue_topic, value, key=key, partition=0)


class EventsElsewhere(Exception):
    """A batch's events did not land where the partition expected: the batch is aborted."""


def _answer_gone(account_sid: str, command_id: str, sender: Sender) -> Outcome:
    """The answer to a retry whose first outcome was deleted from the outcomes log."""
    return Outcome(
        command_id=command_id,
        account_sid=account_sid,
        status="rejected",
        rejection=Rejection(
            409,
            20409,
            f"command {command_id!r} was answered before and its first outcome is no longer "
            "in the outcomes log; it is not decided twice: send a new command, with a new id",
        ),
        decided_at=datetime.now(UTC),
        sender=sender,
    )


def _best_effort_ids(record: ConsumerRecord) -> tuple[str, str]:
    """The command_id and account_sid of an invalid command if they can be read at all, so the
    sender waiting for its outcome still gets it; otherwise ids made from the position."""
    command_id = f"dlq:{record.topic}:{record.partition}:{record.offset}"
    account_sid = record.key.decode(errors="replace")[:64] if record.key else ""
    try:
        document = msgspec.json.decode(record.value) if record.value else None
    except msgspec.DecodeError:
        document = None
    if isinstance(document, dict):
        if isinstance(document.get("command_id"), str) and 0 < len(document["command_id"]) <= 200:
            command_id = document["command_id"]
        if isinstance(document.get("account_sid"), str) and len(document["account_sid"]) <= 64:
            account_sid = document["account_sid"]
    return command_id, account_sid


def _attributes(envelope: CommandEnvelope | None) -> dict[str, str]:
    """A decision's span attributes known before deciding."""
    if envelope is None:
        return {}
    return {
        "messaging.message.id": envelope.command_id,
        "fleetstate.command.type": type(envelope.command).__name__,
        "fleetstate.account_sid": envelope.account_sid,
    }


def _answered(answer: _Answer) -> dict[str, str | int]:
    """What a decision's span says of its answer."""
    outcome = answer.outcome
    if answer.same_as is not None or (outcome is not None and answer.remember is None):
        status = "duplicate"
    elif outcome is None:
        status = "awaiting"  # answered by a later step of its process
    else:
        status = outcome.status if answer.dead_letter is None else "dead_letter"
    attributes: dict[str, str | int] = {
        "fleetstate.outcome": status,
        "fleetstate.events": len(answer.events),
    }
    if outcome is not None and outcome.rejection is not None:
        attributes["fleetstate.rejection.code"] = outcome.rejection.code
    return attributes
