"""One command partition: its state, its transactional producer, its decisions.

The state of a partition is a fold of its events partition (the log is the truth). Each batch of
commands is answered in ONE Kafka transaction: the events, the outcomes, the dead letters and the
consumer offset. A crash anywhere leaves either all of a batch or none of it, and a restart
rebuilds the state from exactly what was committed. The producer's transactional id is fixed per
partition, so a new owner's `init_transactions` fences a stalled old one (a zombie) for good.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections import OrderedDict
from datetime import UTC, datetime

import msgspec
from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka.producer import sender as aiokafka_sender
from aiokafka.structs import ConsumerRecord

from events.codec import (
    InvalidMessage,
    decode_command,
    decode_event,
    decode_outcome,
    encode_event,
    encode_outcome,
)
from events.envelope import EventEnvelope, Outcome, Rejection, event_ref, outcome_of
from services.config import Settings
from services.domain.decide import decide
from services.domain.evolve import evolve
from services.domain.state import State
from services.log_reader import log_consumer, read_to_end
from services.partition_owner import QueuedWorker
from services.processor import metrics

log = logging.getLogger(__name__)

# After a commit the broker writes the transaction markers; a new transaction that starts
# meanwhile is answered CONCURRENT_TRANSACTIONS and aiokafka retries its first
# AddPartitionsToTxn after a fixed 20 ms (KAFKA-5477), a wait nearly every batch paid at a
# steady load. aiokafka (pinned to 0.14.x) has no setting for it, so we set its constant to
# the producer's retry backoff below.
aiokafka_sender.BACKOFF_OVERRIDE = 0.003

# Outcomes remembered per partition to answer a retried command with its first outcome.
OUTCOME_MEMORY = 200_000
GENESIS_HASH = "0" * 64
MAX_BATCH = 2000  # commands answered in one transaction


def chain_hash(encoded_event: bytes) -> str:
    return hashlib.sha256(encoded_event).hexdigest()


class _Answer(msgspec.Struct):
    """What one command produced, before it is written."""

    outcome: Outcome
    events: list[EventEnvelope] = []
    dead_letter: ConsumerRecord | None = None


class PartitionProcessor(QueuedWorker):
    max_batch = MAX_BATCH

    def __init__(self, settings: Settings, partition: int, state: State, group_id: str) -> None:
        super().__init__(partition)
        self.settings = settings
        self.state = state  # shared with the other partitions of this process
        self.group_id = group_id
        self.commands_tp = TopicPartition(settings.commands_topic, partition)
        self.accounts: set[str] = set()  # the accounts whose state this partition holds
        self.outcomes: OrderedDict[tuple[str, str], Outcome] = OrderedDict()
        self.last_hash = GENESIS_HASH
        self.events_end = 0  # next offset of the events partition
        self.producer = AIOKafkaProducer(
            bootstrap_servers=settings.kafka_bootstrap,
            transactional_id=f"fleetstate-processor.{settings.commands_topic}.{partition}",
            acks="all",
            enable_idempotence=True,
            linger_ms=0,
            # A transaction begun while the broker still writes the previous one's markers is
            # answered CONCURRENT_TRANSACTIONS and retried after this backoff: the default
            # 100 ms would be paid by nearly every command at a steady load.
            retry_backoff_ms=3,
            max_batch_size=1024 * 1024,
            max_request_size=8 * 1024 * 1024,
        )

    # --- life cycle ------------------------------------------------------------------------

    async def start(self) -> None:
        """Fences any previous owner, then rebuilds this partition's state from the log."""
        await self.producer.start()  # init_transactions: aborts what a dead owner left open
        started = time.monotonic()
        folded = await self._recover()
        metrics.RECOVERY_SECONDS.observe(time.monotonic() - started)
        metrics.RECOVERED_EVENTS.inc(folded)
        log.info(
            "partition %d recovered: %d events, %d accounts, %.2fs",
            self.partition,
            folded,
            len(self.accounts),
            time.monotonic() - started,
        )

    async def stop(self) -> None:
        """Forgets this partition's accounts (another process owns them now)."""
        await self.stop_answering()
        for account_sid in self.accounts:
            self.state.accounts.pop(account_sid, None)
        self.accounts.clear()
        try:
            await self.producer.stop()
        except Exception:  # a fenced or broken producer has nothing left to flush
            log.debug("producer of partition %d stopped with an error", self.partition)

    async def _recover(self) -> int:
        s = self.settings
        events_tp = TopicPartition(s.events_topic, self.partition)
        outcomes_tp = TopicPartition(s.outcomes_topic, self.partition)
        consumer = log_consumer(s.kafka_bootstrap)
        await consumer.start()
        folded = 0
        try:
            async for tp, records in read_to_end(consumer, {events_tp: 0, outcomes_tp: 0}):
                if tp == events_tp:
                    for record in records:
                        event = decode_event(record.value)
                        evolve(self.state, event)
                        self.accounts.add(event.account_sid)
                        self.last_hash = chain_hash(record.value)
                        self.events_end = record.offset + 1
                        folded += 1
                else:
                    for record in records:
                        self._remember(decode_outcome(record.value))
        finally:
            await consumer.stop()
        return folded

    # --- deciding --------------------------------------------------------------------------

    async def process(self, records: list[ConsumerRecord]) -> None:
        """Decides a batch of commands of this partition and commits all answers at once.
        On any error the state may hold uncommitted decisions: the caller must stop this
        processor and start a fresh one, which recovers from the log."""
        # A fetch that was in flight when the consumer was positioned can deliver records again;
        # the committed position is the truth, so anything before it is already answered.
        records = [r for r in records if r.offset >= self.next_offset]
        if not records:
            return
        answers = [self._answer(record) for record in records]
        started = time.monotonic()
        await self._commit(answers, next_offset=records[-1].offset + 1)
        self.next_offset = records[-1].offset + 1
        metrics.TRANSACTION_SECONDS.observe(time.monotonic() - started)

    def _answer(self, record: ConsumerRecord) -> _Answer:
        try:
            command = decode_command(record.value)
        except InvalidMessage as exc:
            return self._dead_letter(record, exc.reason)
        if command.account_sid.encode() != record.key:
            return self._dead_letter(
                record, f"record key {record.key!r} is not the account_sid {command.account_sid}"
            )
        first = self.outcomes.get((command.account_sid, command.command_id))
        if first is not None:
            metrics.COMMANDS.labels("duplicate").inc()
            return _Answer(outcome=first)  # a retry: the same outcome again, nothing appended
        started = time.perf_counter()
        try:
            result = decide(self.state, command)
        except Exception as exc:  # a bug must not stop the line: park the command, go on
            log.exception("decide failed for command %s", command.command_id)
            return self._dead_letter(record, f"could not be decided ({type(exc).__name__})")
        if not isinstance(result, Rejection):
            for event in result:
                evolve(self.state, event)
            self.accounts.add(command.account_sid)
        metrics.DECIDE_SECONDS.observe(time.perf_counter() - started)
        events = [] if isinstance(result, Rejection) else result
        outcome = outcome_of(command, result, datetime.now(UTC))
        self._remember(outcome)
        metrics.COMMANDS.labels(outcome.status).inc()
        return _Answer(outcome=outcome, events=self._chain(events, record.offset))

    def _dead_letter(self, record: ConsumerRecord, reason: str) -> _Answer:
        """A message that is not a valid command: rejected with the reason, kept raw in the DLQ."""
        metrics.COMMANDS.labels("dead_letter").inc()
        command_id, account_sid = _best_effort_ids(record)
        outcome = Outcome(
            command_id=command_id,
            account_sid=account_sid,
            status="rejected",
            rejection=Rejection(400, 20001, f"invalid command: {reason}"),
            decided_at=datetime.now(UTC),
        )
        return _Answer(outcome=outcome, dead_letter=record)

    def _chain(self, events: list[EventEnvelope], command_offset: int) -> list[EventEnvelope]:
        """Stamps each event with the command offset it answers and the hash of the event
        before it in this partition (the tamper-evidence chain)."""
        chained = []
        for event in events:
            event = msgspec.structs.replace(
                event, command_offset=command_offset, prev_hash=self.last_hash
            )
            self.last_hash = chain_hash(encode_event(event))
            chained.append(event)
        return chained

    def _remember(self, outcome: Outcome) -> None:
        key = (outcome.account_sid, outcome.command_id)
        self.outcomes[key] = outcome
        self.outcomes.move_to_end(key)
        if len(self.outcomes) > OUTCOME_MEMORY:
            self.outcomes.popitem(last=False)

    # --- writing ---------------------------------------------------------------------------

    async def _commit(self, answers: list[_Answer], next_offset: int) -> None:
        s, p, producer = self.settings, self.partition, self.producer
        await producer.begin_transaction()
        try:
            # Events first: their offsets go into the outcomes ("accepted, at these positions").
            pending = []
            for answer in answers:
                for event in answer.events:
                    pending.append(
                        await producer.send(
                            s.events_topic,
                            encode_event(event),
                            key=event.account_sid.encode(),
                            partition=p,
                            headers=[("type", event.type.encode())],
                        )
                    )
            offsets = [(await future).offset for future in pending]
            positions = iter(offsets)
            for answer in answers:
                outcome = answer.outcome
                if answer.events:
                    refs = [
                        msgspec.structs.replace(event_ref(e), partition=p, offset=next(positions))
                        for e in answer.events
                    ]
                    outcome = msgspec.structs.replace(outcome, events=refs)
                    self._remember(outcome)
                    metrics.EVENTS_APPENDED.inc(len(refs))
                await producer.send(
                    s.outcomes_topic,
                    encode_outcome(outcome),
                    key=outcome.account_sid.encode(),
                    partition=p,
                )
                if answer.dead_letter is not None:
                    await self._send_dead_letter(answer.dead_letter, outcome)
            await producer.send_offsets_to_transaction(
                {self.commands_tp: next_offset}, self.group_id
            )
            await producer.commit_transaction()
        except BaseException:
            try:
                await producer.abort_transaction()
            except Exception:
                pass  # fenced or disconnected: the broker aborts it, the next owner recovers
            raise
        if offsets:
            self.events_end = offsets[-1] + 1

    async def _send_dead_letter(self, record: ConsumerRecord, outcome: Outcome) -> None:
        reason = outcome.rejection.message if outcome.rejection else ""
        await self.producer.send(
            self.settings.dlq_topic,
            record.value,
            key=record.key,
            headers=[
                ("source.topic", record.topic.encode()),
                ("source.partition", str(record.partition).encode()),
                ("source.offset", str(record.offset).encode()),
                ("reason", reason.encode()),
            ],
        )


def _best_effort_ids(record: ConsumerRecord) -> tuple[str, str]:
    """The command_id and account_sid of an invalid command if they can be read at all, so the
    sender waiting for its outcome still gets it; otherwise ids made from the position."""
    command_id = f"dlq:{record.topic}:{record.partition}:{record.offset}"
    account_sid = record.key.decode(errors="replace") if record.key else ""
    try:
        document = msgspec.json.decode(record.value) if record.value else None
    except msgspec.DecodeError:
        document = None
    if isinstance(document, dict):
        if isinstance(document.get("command_id"), str) and document["command_id"]:
            command_id = document["command_id"]
        if isinstance(document.get("account_sid"), str):
            account_sid = document["account_sid"]
    return command_id, account_sid
