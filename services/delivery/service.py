"""`fleetstate delivery`: calls the webhooks the log asks for, signed, retried, recorded.

Two loops share a PostgreSQL pool:
- the intake, a consumer group on the events topic: each event that calls a URL (jobs.py)
  becomes a pending delivery, each account's sealed token is kept to sign with; the offsets are
  committed only after the rows are written, and writing them again changes nothing, so no
  event is lost and none queued twice (at-least-once, idempotent);
- the dispatcher: claims due deliveries (store.py), at most `webhook_concurrency` in flight
  and at most `webhook_per_host` to one host (a host at its cap is left in the table, so a
  slow or dead endpoint holds its own slots only and never another account's), sends each
  attempt (sender.py: guarded, signed, bounded) and records it; a retryable failure is due
  again after a backoff with jitter (backoff.py), until the horizon.

Every attempt of one delivery carries the same I-Twilio-Idempotency-Token (the event's id):
a delivery tried twice (an instance died after sending, before recording) is recognisable.
Instances scale out: the intake as a consumer group, the dispatchers through SKIP LOCKED.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import Counter
from datetime import UTC, datetime

import asyncpg
from aiokafka import AIOKafkaConsumer
from aiokafka.errors import CommitFailedError, KafkaError
from prometheus_client import Counter as MetricCounter
from prometheus_client import Histogram

from events.codec import InvalidMessage, decode_event
from events.kafka_security import kafka_options
from services.config import Settings, token_keys_of
from services.delivery import store
from services.delivery.backoff import RetryPolicy
from services.delivery.jobs import CALLING_TYPES, job_of, token_of
from services.delivery.sealing import SealError, TokenSeal
from services.delivery.sender import Outcome, Request, Sender
from services.lifecycle import serve_metrics, stop_on_signals
from services.log_reader import FETCH_MAX_WAIT_MS, event_type
from services.postgres import DATABASE_AWAY, init_connection

log = logging.getLogger(__name__)

GROUP_ID = "fleetstate-delivery"
# The event types the intake decodes (those that set a token or call a URL: jobs.py says
# which); the others are skipped by their header.
_WANTED = {t.encode() for t in ("AccountCreated", "AuthTokenChanged", *CALLING_TYPES)}
IDLE_POLL_SECONDS = 1.0  # how often an idle dispatcher looks for retries falling due
# A claim outlives its attempt's timeout by this much (recording it, a short wait for a slot of
# its host). Shorter would risk a second try of an attempt still under way; longer delays the
# retry of what a dead instance had claimed.
LEASE_MARGIN_SECONDS = 10.0
POOL_SIZE = 10

ATTEMPTS = MetricCounter("fleetstate_webhook_attempts", "Webhook attempts, by outcome", ["outcome"])
ATTEMPT_SECONDS = Histogram(
    "fleetstate_webhook_attempt_seconds",
    "Duration of one webhook attempt",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)


class Intake:
    """Events -> pending deliveries and tokens."""

    def __init__(self, settings: Settings, pool: asyncpg.Pool, wake: asyncio.Event) -> None:
        self.pool = pool
        self.wake = wake
        self.consumer = AIOKafkaConsumer(
            settings.events_topic,
            **kafka_options(settings.kafka_bootstrap),
            group_id=f"{GROUP_ID}.{settings.events_topic}",
            enable_auto_commit=False,
            isolation_level="read_committed",
            auto_offset_reset="earliest",
            fetch_max_wait_ms=FETCH_MAX_WAIT_MS,
        )

    async def run(self, stop: asyncio.Event) -> None:
        await self.consumer.start()
        try:
            while not stop.is_set():
                fetched = await self.consumer.getmany(timeout_ms=500, max_records=2000)
                if not fetched:
                    continue
                tokens, jobs = [], []
                for records in fetched.values():
                    for record in records:
                        if event_type(record) not in _WANTED:
                            continue
                        try:
                            event = decode_event(record.value)
                        except InvalidMessage as exc:  # the processor wrote it: a bug, say so
                            log.error("event at %s:%d unreadable: %s", record.topic,
                                      record.offset, exc)  # fmt: skip
                            continue
                        token = token_of(event)
                        if token is not None:
                            tokens.append((event.account_sid, *token))
                        job = job_of(event)
                        if job is not None:
                            jobs.append(job)
                if tokens or jobs:
                    async with self.pool.acquire() as conn:
                        await store.take(conn, tokens, jobs)
                    self.wake.set()
                try:
                    await self.consumer.commit()
                except (CommitFailedError, KafkaError) as exc:
                    # A rebalance took the partitions: their next owner reads them again,
                    # and taking them again changes nothing.
                    log.info("intake offsets not committed (%s); they will be read again", exc)
        finally:
            await self.consumer.stop()


class Dispatcher:
    """Due deliveries -> attempts, recorded."""

    def __init__(
        self,
        settings: Settings,
        pool: asyncpg.Pool,
        sender: Sender,
        seal: TokenSeal | None,
        wake: asyncio.Event,
    ) -> None:
        self.pool = pool
        self.sender = sender
        self.seal = seal
        self.wake = wake
        self.policy = RetryPolicy.from_settings(settings)
        self.concurrency = settings.webhook_concurrency
        self.per_host_cap = settings.webhook_per_host
        self.lease = settings.webhook_timeout_seconds + LEASE_MARGIN_SECONDS
        self.rng = random.Random()
        self.per_host: Counter[str] = Counter()
        self.tasks: set[asyncio.Task] = set()

    async def run(self, stop: asyncio.Event) -> None:
        try:
            while not stop.is_set():
                self.wake.clear()  # before claiming: a wake during the claim is not lost
                free = self.concurrency - len(self.tasks)
                # Claim in batches: a query per finished attempt would cost more than the
                # attempts; a quarter of the slots free, or none in flight, is worth one.
                worth = free >= max(1, self.concurrency // 4) or not self.tasks
                claimed = await self._claim(free) if worth else []
                for due in claimed:
                    self.per_host[due.host] += 1
                    task = asyncio.create_task(self._deliver(due))
                    self.tasks.add(task)
                    task.add_done_callback(self._done)
                if claimed and len(claimed) == free:
                    continue  # there may be more due
                try:
                    await asyncio.wait_for(self.wake.wait(), IDLE_POLL_SECONDS)
                except TimeoutError:
                    pass
        finally:
            # Attempts under way finish (their leases would only make them wait longer).
            if self.tasks:
                await asyncio.gather(*self.tasks, return_exceptions=True)

    async def _claim(self, limit: int) -> list[store.Due]:
        busy = [host for host, n in self.per_host.items() if n >= self.per_host_cap]
        try:
            async with self.pool.acquire() as conn:
                return await store.claim(conn, limit, busy, self.lease)
        except DATABASE_AWAY as exc:
            log.warning("cannot claim deliveries: %s", exc)
            return []

    def _done(self, task: asyncio.Task) -> None:
        self.tasks.discard(task)
        self.wake.set()
        if not task.cancelled() and task.exception() is not None:
            log.error("a delivery failed unexpectedly", exc_info=task.exception())

    async def _deliver(self, due: store.Due) -> None:
        try:
            started = datetime.now(UTC)
            token, refusal = self._token(due)
            if token is None:
                outcome, code, latency, error = Outcome.PERMANENT, None, 0.0, refusal
            else:
                request = Request(
                    due.method,
                    due.url,
                    due.params,
                    auth_token=token,
                    idempotency_token=due.delivery_id,
                )
                attempt = await self.sender.send(request)
                outcome, code = attempt.outcome, attempt.status
                latency, error = attempt.latency, attempt.error
            ATTEMPTS.labels(outcome.value).inc()
            ATTEMPT_SECONDS.observe(latency)
            status, next_at = self._after(due, outcome, started)
            if status == "expired":
                error = f"{error}; given up after {due.attempts + 1} attempts (the horizon)"
            async with self.pool.acquire() as conn:
                await store.record(
                    conn, due, started, latency, code, outcome.value, error, status, next_at
                )
        finally:
            self.per_host[due.host] -= 1

    def _token(self, due: store.Due) -> tuple[str | None, str | None]:
        """The account's auth token, or why it cannot be had (the webhook cannot be signed)."""
        if due.auth_token_sealed is None:
            return None, (
                "cannot sign: the account's auth token was not sealed (no FLEETSTATE_TOKEN_KEYS "
                "when it was issued); rotate its token to seal one"
            )
        if self.seal is None:
            return None, "cannot sign: no FLEETSTATE_TOKEN_KEYS configured"
        try:
            return self.seal.open(due.auth_token_sealed), None
        except SealError as exc:
            return None, f"cannot sign: {exc}"

    def _after(self, due: store.Due, outcome: Outcome, started: datetime):
        if outcome is Outcome.DELIVERED:
            return "delivered", None
        if outcome is Outcome.PERMANENT:
            return "failed", None
        first = (due.first_attempt_at or started).timestamp()
        now = datetime.now(UTC)
        at = self.policy.next_attempt_at(due.attempts + 1, first, now.timestamp(), self.rng)
        if at is None:
            return "expired", None
        return "pending", datetime.fromtimestamp(at, UTC)


async def run_delivery(settings: Settings, metrics_port: int = 0) -> None:
    serve_metrics(metrics_port)
    # httpx logs every request at INFO; the attempts are recorded in the delivery log instead.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    stop = stop_on_signals()
    keys = token_keys_of(settings)
    seal = TokenSeal.from_keys(keys) if keys else None
    if seal is None:
        log.warning("no FLEETSTATE_TOKEN_KEYS: webhooks cannot be signed and will fail")
    # Each attempt records itself (one statement): enough connections that recording never
    # queues behind the attempts in flight.
    pool = await asyncpg.create_pool(
        settings.database_url, min_size=2, max_size=POOL_SIZE, init=init_connection
    )
    wake = asyncio.Event()
    try:
        async with Sender.from_settings(settings) as sender:
            await asyncio.gather(
                Intake(settings, pool, wake).run(stop),
                Dispatcher(settings, pool, sender, seal, wake).run(stop),
            )
    finally:
        await pool.close()


async def reseal(settings: Settings) -> int:
    """Key rotation's middle step: every stored token not sealed with the newest key is sealed
    with it (services/delivery/sealing.py says the whole procedure)."""
    keys = token_keys_of(settings)
    if not keys:
        raise SystemExit("no FLEETSTATE_TOKEN_KEYS: nothing to reseal with")
    seal = TokenSeal.from_keys(keys)
    conn = await asyncpg.connect(settings.database_url)
    try:
        return await store.reseal_tokens(
            conn, lambda sealed: seal.reseal(sealed) if seal.needs_reseal(sealed) else None
        )
    finally:
        await conn.close()
