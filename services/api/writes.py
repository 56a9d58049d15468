"""Writes: a command through the bus, its outcome, then read-your-writes.

One CommandClient per API process, connected in the background (the API starts, and answers
503, while Kafka is down, and connects as soon as it answers). A write:
0. with an Idempotency-Key, binds the key to the request or is refused 422 (idempotency.py);
1. sends its command and waits for the processor's outcome;
2. waits until the projector has applied the outcome's events (their log positions);
3. lets the handler answer with the resource as the read model now shows it.
When the wait (FLEETSTATE_API_WRITE_TIMEOUT) ends before step 1 or 2 is done, the command is
safely on the bus and will be decided: the handler answers 202 with what it knows.

Step 1's command carries the request's trace context (events.tracing); step 2, the wait for the
projection, is a span of its own when spans are exported.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import msgspec
from aiokafka.errors import KafkaConnectionError, KafkaError

from events import tracing
from events.client import CommandClient
from events.commands import Command
from events.envelope import Outcome
from services.api import metrics
from services.api.db import Database
from services.api.errors import ApiError, unavailable
from services.api.idempotency import Idempotency, KeyStore, command_id_for
from services.config import Settings
from services.health import kafka_refusal
from services.projection import ProjectionWaiter

log = logging.getLogger(__name__)

# Beyond the write timeout, how long the broker may take to acknowledge a command before the
# bus counts as unavailable.
SEND_GRACE_SECONDS = 5.0


class WriteResult(msgspec.Struct):
    command_id: str
    outcome: Outcome | None  # None: not decided within the wait
    visible: bool  # the read model shows every event of the outcome

    @property
    def pending(self) -> bool:
        return self.outcome is None or not self.visible

    def raise_if_rejected(self) -> None:
        if self.outcome is not None and self.outcome.rejection is not None:
            rejection = self.outcome.rejection
            raise ApiError(rejection.http_status, rejection.code, rejection.message)

    def event_types(self) -> set[str]:
        return {ref.type for ref in self.outcome.events} if self.outcome else set()

    def aggregate_ids(self) -> list[str]:
        return [ref.aggregate_id for ref in self.outcome.events] if self.outcome else []


class Writer:
    def __init__(self, settings: Settings, db: Database) -> None:
        self.settings = settings
        self.keys = KeyStore(db, settings.command_dedup_hours)
        self.client: CommandClient | None = None
        self.waiter = ProjectionWaiter(settings.database_url, settings.events_topic)
        self._connecting: asyncio.Task | None = None

    async def start(self) -> None:
        await self.waiter.start()
        self.keys.start()
        self._connecting = asyncio.create_task(self._connect())

    async def stop(self) -> None:
        if self._connecting is not None:
            self._connecting.cancel()
            await asyncio.gather(self._connecting, return_exceptions=True)
        if self.client is not None:
            with contextlib.suppress(Exception):
                await self.client.stop()
        await self.keys.stop()
        await self.waiter.stop()

    async def _connect(self) -> None:
        backoff = 0.2
        while True:
            client = CommandClient(
                self.settings.kafka_bootstrap,
                commands_topic=self.settings.commands_topic,
                outcomes_topic=self.settings.outcomes_topic,
                actor="api",
            )
            try:
                await client.start()
                # Start reading outcomes now: the first request would otherwise pay for it,
                # and two concurrent first requests would both start a reader.
                await client.listen()
            except (KafkaError, OSError) as exc:
                if isinstance(exc, KafkaConnectionError):  # a refused password, an unknown CA?
                    exc = await kafka_refusal(self.settings.kafka_bootstrap) or exc
                log.warning("api: Kafka unavailable (%s); retrying", exc)
                with contextlib.suppress(Exception):
                    await client.stop()
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
                continue
            self.client = client
            log.info("api: connected to Kafka at %s", self.settings.kafka_bootstrap)
            return

    async def execute(
        self,
        command: Command,
        *,
        account_sid: str,
        idempotency: Idempotency | None = None,
    ) -> WriteResult:
        if idempotency is not None:
            await self.keys.bind(account_sid, idempotency)  # 422 if bound to another request
        command_id = command_id_for(account_sid, idempotency)
        client = self.client
        if client is None:
            raise unavailable()
        envelope = client.envelope(
            command, account_sid=account_sid, command_id=command_id, actor=f"api:{account_sid}"
        )
        command_type = type(command).__name__
        loop = asyncio.get_running_loop()
        timeout = self.settings.api_write_timeout
        deadline = loop.time() + timeout
        try:
            async with asyncio.timeout(timeout + SEND_GRACE_SECONDS) as sending:
                outcome = await client.execute(envelope, timeout=timeout)
        except TimeoutError:
            if sending.expired():  # the broker never acknowledged the command
                metrics.COMMANDS.labels(command_type, "unavailable").inc()
                raise unavailable() from None
            metrics.COMMANDS.labels(command_type, "pending").inc()
            return WriteResult(command_id=command_id, outcome=None, visible=False)
        except KafkaError:
            metrics.COMMANDS.labels(command_type, "unavailable").inc()
            raise unavailable() from None
        label = outcome.status if outcome.rejection is None else str(outcome.rejection.code)
        metrics.COMMANDS.labels(command_type, label).inc()
        if outcome.status != "accepted" or not outcome.events:
            return WriteResult(command_id=command_id, outcome=outcome, visible=True)
        wanted: dict[int, int] = {}
        for ref in outcome.events:
            wanted[ref.partition] = max(wanted.get(ref.partition, -1), ref.offset)
        left = max(0.0, deadline - loop.time())
        if not tracing.recording():
            visible = await self.waiter.wait_for(wanted, left)
        else:
            with tracing.TRACER.start_as_current_span("await projection") as span:
                span.set_attribute("fleetstate.projection", self.waiter.projection)
                visible = await self.waiter.wait_for(wanted, left)
                span.set_attribute("fleetstate.visible", visible)
        return WriteResult(command_id=command_id, outcome=outcome, visible=visible)
