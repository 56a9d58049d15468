"""CommandClient: how other services (and fleetstate's own API) publish commands.

    async with CommandClient("127.0.0.1:9092") as client:
        command_id = await client.send(CreateFleet(...), account_sid="AC...")
        outcome = await client.execute(CreateFleet(...), account_sid="AC...", timeout=10)

Commands go to the commands topic keyed by account_sid (a SIM card's by its ICCID: see
`events.commands.partition_key`), through an idempotent producer that
waits for every in-sync replica. The operator's commands go to the operator's topic when the
client is given one (`operator_topic`), the processors' steps to the internal topic likewise:
the processor decides a command only from the topic of its kind of sender
(`events.commands.sender_of`), and the broker's ACLs say who may write each.

The sender chooses the command_id (a UUID when not given); sending the same id again is
safe: the processor appends nothing and answers with the first outcome. `execute` waits for
that outcome on the outcomes topic (read_committed, so only what the processor committed is
ever seen). It connects as the process's Kafka principal (`events.kafka_security`, from the
environment) unless given `security=KafkaSecurity(...)`.

Each command carries the W3C trace context of its sender in its headers (events.tracing): the
current OpenTelemetry context, or a `traceparent` given by hand (`send(..., traceparent=...)`),
so its decision, its events and its outcome join the sender's trace.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaError

from events import tracing
from events.codec import InvalidMessage, decode_outcome, encode_command
from events.commands import Command, CommandEnvelope, Sender, partition_key, sender_of
from events.envelope import Outcome
from events.kafka_security import KafkaSecurity, kafka_options

log = logging.getLogger(__name__)


class CommandClient:
    def __init__(
        self,
        bootstrap_servers: str,
        *,
        commands_topic: str = "fleetstate.commands",
        outcomes_topic: str = "fleetstate.outcomes",
        operator_topic: str | None = None,
        internal_topic: str | None = None,
        actor: str = "service",
        linger_ms: int = 0,
        security: KafkaSecurity | None = None,
    ) -> None:
        self.commands_topic = commands_topic
        # Where each kind of sender's commands go; a kind without a topic of its own here is
        # sent to the commands topic, where the processor refuses it, saying why.
        self.topics: dict[Sender, str] = {"tenant": commands_topic}
        if operator_topic:
            self.topics["operator"] = operator_topic
        if internal_topic:
            self.topics["internal"] = internal_topic
        self.outcomes_topic = outcomes_topic
        self.actor = actor
        # The process's Kafka principal (events.kafka_security) unless the caller names one.
        self._kafka = kafka_options(bootstrap_servers, security)
        self._producer = AIOKafkaProducer(
            **self._kafka,
            acks="all",
            enable_idempotence=True,
            linger_ms=linger_ms,
        )
        self._consumer: AIOKafkaConsumer | None = None
        self._listener: asyncio.Task | None = None
        # (account_sid, command_id, sender) -> futures of callers waiting for its outcome:
        # command ids are the senders' own, so two accounts (or an account and the operator)
        # may well use the same one.
        self._waiting: dict[tuple[str, str, str], list[asyncio.Future[Outcome]]] = {}

    async def start(self) -> None:
        await self._producer.start()

    async def brokers(self) -> int:
        """Brokers named by a metadata request over this client's own connections (no new
        client): how a caller's readiness check asks whether the bus answers."""
        cluster = await self._producer.client.fetch_all_metadata()
        return len(cluster.brokers())

    async def stop(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            await asyncio.gather(self._listener, return_exceptions=True)
        if self._consumer is not None:
            await self._consumer.stop()
        await self._producer.stop()

    async def __aenter__(self) -> CommandClient:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # --- sending ---------------------------------------------------------------------------

    def envelope(
        self,
        command: Command,
        *,
        account_sid: str,
        command_id: str | None = None,
        correlation_id: str | None = None,
        actor: str | None = None,
    ) -> CommandEnvelope:
        """Wraps a command with its metadata; issued_at is taken now, here, by the sender."""
        return CommandEnvelope(
            command_id=command_id or uuid.uuid4().hex,
            account_sid=account_sid,
            actor=actor or self.actor,
            issued_at=datetime.now(UTC),
            correlation_id=correlation_id,
            command=command,
        )

    async def send(
        self,
        command: Command | CommandEnvelope,
        *,
        traceparent: str | None = None,
        **metadata: str | None,
    ) -> str:
        """Publishes one command and waits for the broker to store it; returns its command_id.
        `traceparent` (W3C) puts it in that trace instead of the current context's."""
        envelope = self._wrap(command, metadata)
        await (await self._enqueue(envelope, _parent(traceparent)))
        return envelope.command_id

    async def send_many(
        self, commands: Iterable[CommandEnvelope], *, traceparent: str | None = None
    ) -> list[str]:
        """Publishes many commands in as few broker requests as the producer can batch them."""
        return await self._send_many(list(commands), _parent(traceparent))

    async def _send_many(
        self, envelopes: list[CommandEnvelope], parent: tracing.Parent | None
    ) -> list[str]:
        acks = [await self._enqueue(envelope, parent) for envelope in envelopes]
        await asyncio.gather(*acks)
        return [envelope.command_id for envelope in envelopes]

    async def execute(
        self,
        command: Command | CommandEnvelope,
        timeout: float = 10.0,
        *,
        traceparent: str | None = None,
        **metadata: str | None,
    ) -> Outcome:
        """Publishes a command and returns its outcome; TimeoutError if none came in time
        (the command may still be decided later: execute it again with the same id to ask)."""
        envelope = self._wrap(command, metadata)
        [outcome] = await self.execute_many([envelope], timeout, traceparent=traceparent)
        return outcome

    async def execute_many(
        self,
        envelopes: Iterable[CommandEnvelope],
        timeout: float = 10.0,
        *,
        traceparent: str | None = None,
    ) -> list[Outcome]:
        envelopes = list(envelopes)
        parent = _parent(traceparent)
        await self.listen()
        loop = asyncio.get_running_loop()
        futures = []
        for envelope in envelopes:
            future: asyncio.Future[Outcome] = loop.create_future()
            ident = (envelope.account_sid, envelope.command_id, self._route(envelope)[1])
            self._waiting.setdefault(ident, []).append(future)
            futures.append((ident, future))
        waiting = None
        try:
            await self._send_many(envelopes, parent)
            if tracing.propagating() and tracing.spans_possible():
                # The wait for the processor's answer: a hop of its own.
                waiting = tracing.TRACER.start_span("await outcome", context=_otel(parent))
            async with asyncio.timeout(timeout):
                return list(await asyncio.gather(*(future for _, future in futures)))
        finally:
            if waiting is not None:
                waiting.end()
            for ident, future in futures:
                waiters = self._waiting.get(ident)
                if waiters and future in waiters:
                    waiters.remove(future)
                    if not waiters:
                        del self._waiting[ident]

    async def expect(
        self, account_sid: str, command_id: str, sender: Sender = "internal"
    ) -> asyncio.Future[Outcome]:
        """A future for the outcome of a command someone else sends, such as a step the
        processor sends on (`"<id>:adopt"` after a subaccount's CreateAccount): ask for it
        before the command that causes it, so that it cannot pass unseen."""
        await self.listen()
        future: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault((account_sid, command_id, sender), []).append(future)
        return future

    def _wrap(self, command: Command | CommandEnvelope, metadata: dict) -> CommandEnvelope:
        if isinstance(command, CommandEnvelope):
            return command
        if not metadata.get("account_sid"):
            raise ValueError("account_sid is required to send a bare command")
        return self.envelope(command, **metadata)

    def _route(self, envelope: CommandEnvelope) -> tuple[str, Sender]:
        """The topic a command goes to, and the kind of sender its outcome will name."""
        kind = sender_of(envelope.command)
        if kind in self.topics:
            return self.topics[kind], kind
        return self.commands_topic, "tenant"

    async def _enqueue(
        self, envelope: CommandEnvelope, parent: tracing.Parent | None = None
    ) -> asyncio.Future:
        topic = self._route(envelope)[0]
        key = partition_key(envelope).encode()
        if not tracing.propagating():
            return await self._producer.send(topic, encode_command(envelope), key=key)
        if not tracing.spans_possible():  # the caller's trace context goes on as it is
            headers = tracing.outgoing(parent) or None
            return await self._producer.send(
                topic, encode_command(envelope), key=key, headers=headers
            )
        context = _otel(parent)
        span = tracing.send_span(topic, key, lambda: _attributes(envelope), context)
        headers = tracing.span_headers(span, context)
        ack = await self._producer.send(topic, encode_command(envelope), key=key, headers=headers)
        tracing.end_on_ack(span, ack)
        return ack

    # --- outcomes --------------------------------------------------------------------------

    async def listen(self) -> None:
        """Starts reading outcomes from the end of the topic, once (`execute` and `expect` do
        it before their first send; a server calls it at start so no request pays for it)."""
        if self._listener is not None:
            return
        consumer = AIOKafkaConsumer(
            **self._kafka,
            isolation_level="read_committed",
            enable_auto_commit=False,
            # The broker answers a fetch as soon as an outcome is committed; the wait only
            # bounds how often an idle client asks again (fleetstate's FETCH_MAX_WAIT_MS).
            fetch_max_wait_ms=100,
        )
        await consumer.start()
        partitions = [
            TopicPartition(self.outcomes_topic, p)
            for p in sorted(await self._producer.partitions_for(self.outcomes_topic))
        ]
        consumer.assign(partitions)
        await consumer.seek_to_end(*partitions)
        for tp in partitions:  # resolve the end positions now, so no outcome is skipped
            await consumer.position(tp)
        self._consumer = consumer
        self._listener = asyncio.create_task(self._read_outcomes(consumer))

    async def _read_outcomes(self, consumer: AIOKafkaConsumer) -> None:
        while True:
            try:
                batches = await consumer.getmany(timeout_ms=1000)
            except KafkaError:
                # The broker is away (restarting, say): the consumer reconnects by itself;
                # callers waiting meanwhile time out and may execute again with the same id.
                log.warning("outcome listener: fetch failed, retrying", exc_info=True)
                await asyncio.sleep(0.5)
                continue
            for records in batches.values():
                for record in records:
                    try:
                        outcome = decode_outcome(record.value)
                    except InvalidMessage:
                        continue  # not ours to judge; the processor wrote it
                    ident = (outcome.account_sid, outcome.command_id, outcome.sender)
                    waiters = self._waiting.pop(ident, None)
                    for future in waiters or ():
                        if not future.done():
                            future.set_result(outcome)


def _parent(traceparent: str | None) -> tracing.Parent | None:
    """The trace a send joins: the given `traceparent`'s, else the current context's (None)."""
    return None if traceparent is None else tracing.Parent(traceparent)


def _otel(parent: tracing.Parent | None):
    return None if parent is None else parent.context


def _attributes(envelope: CommandEnvelope) -> dict[str, str]:
    return {
        "messaging.message.id": envelope.command_id,
        "fleetstate.command.type": type(envelope.command).__name__,
        "fleetstate.account_sid": envelope.account_sid,
    }
