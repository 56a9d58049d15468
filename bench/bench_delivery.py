"""Webhook delivery benchmark (not a test): `make bench-delivery` or
`.venv/bin/python bench/bench_delivery.py [--webhooks N] [--rate R] [--seconds S] [--runs K]`
with the dev stack running.

Each run, on fresh topics and a fresh database, with `fleetstate delivery` as a child process
and a local receiver (aiohttp, 127.0.0.1, answering 200 at once):
1. Throughput: N status-change events published at once; deliveries/s from the first request
   to the last. Ceiling: the same N signed form POSTs from one httpx client to the same
   receiver, with the delivery's concurrency and per-host cap, in the same run.
2. Latency: events published at R/s for S seconds; from the moment each event was acknowledged
   by the broker to its request's arrival, p50 and p99. Ceiling: a raw httpx POST's latency at
   the same rate.
Figures are medians over the runs, printed beside their ceilings.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import httpx
import msgspec
from aiohttp import web
from aiokafka import AIOKafkaProducer

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import percentile  # noqa: E402
from events import event_types as ev  # noqa: E402
from events.codec import encode_event  # noqa: E402
from events.envelope import EventEnvelope  # noqa: E402
from events.event_types import SCHEMA_VERSIONS  # noqa: E402
from events.kafka_security import kafka_options  # noqa: E402
from events.sids import derive_sid  # noqa: E402
from services.config import Settings, load_settings, with_topic_prefix  # noqa: E402
from services.delivery.sealing import TokenSeal, generate_key  # noqa: E402
from services.delivery.signature import signature  # noqa: E402
from services.migrate import migrate  # noqa: E402
from services.postgres import drop_database  # noqa: E402
from services.topics import delete_topics_of, ensure_topics  # noqa: E402
from tests.services import ServiceProcess  # noqa: E402

TOKEN = "0123456789abcdef0123456789abcdef"
ACCOUNT = derive_sid("AC", "bench-delivery")


class Receiver:
    """Records when each idempotency token first arrived (monotonic seconds)."""

    def __init__(self) -> None:
        self.arrived: dict[str, float] = {}
        self.done = asyncio.Event()
        self.expected = 0
        self.runner: web.AppRunner | None = None
        self.port = 0

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/{tail:.*}", self.handle)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.port = self.runner.addresses[0][1]

    async def handle(self, request: web.Request) -> web.Response:
        await request.read()
        token = request.headers.get("I-Twilio-Idempotency-Token") or uuid.uuid4().hex
        self.arrived.setdefault(token, time.monotonic())
        if len(self.arrived) >= self.expected:
            self.done.set()
        return web.Response(text="ok")

    def expect(self, count: int) -> None:
        self.arrived, self.expected = {}, count
        self.done.clear()


def status_change(url: str, n: int) -> EventEnvelope:
    changed = ev.SmsCommandStatusChanged(
        sim_sid=derive_sid("HS", "bench"),
        from_status="queued",
        to_status="sent",
        reason=None,
        callback_url=url,
        callback_method="POST",
    )
    return _envelope(changed, "SmsCommand", derive_sid("HC", f"bench-{n}"), 2)


def _envelope(payload, kind: str, sid: str, version: int) -> EventEnvelope:
    name = type(payload).__name__
    return EventEnvelope(
        event_id=derive_sid("EV", uuid.uuid4().hex),
        type=name,
        schema_version=SCHEMA_VERSIONS[name],
        account_sid=ACCOUNT,
        aggregate_type=kind,
        aggregate_id=sid,
        aggregate_version=version,
        occurred_at=datetime.now(UTC),
        command_id=uuid.uuid4().hex,
        correlation_id=None,
        actor="bench",
        payload=payload,
    )


async def publish(producer: AIOKafkaProducer, topic: str, e: EventEnvelope) -> None:
    await producer.send_and_wait(
        topic, encode_event(e), key=e.account_sid.encode(), headers=[("type", e.type.encode())]
    )


async def throughput(settings, producer, receiver, url: str, count: int) -> float:
    receiver.expect(count)
    events = [status_change(url, n) for n in range(count)]
    await asyncio.gather(*(publish(producer, settings.events_topic, e) for e in events))
    await asyncio.wait_for(receiver.done.wait(), 600)
    times = sorted(receiver.arrived.values())
    return count / max(times[-1] - times[0], 1e-9)


async def latency(settings, producer, receiver, url: str, rate: int, seconds: float):
    count = int(rate * seconds)
    receiver.expect(count)
    published: dict[str, float] = {}

    async def one(n: int) -> None:
        e = status_change(url, n)
        await publish(producer, settings.events_topic, e)
        published[e.event_id] = time.monotonic()

    started = time.monotonic()
    tasks = []
    for n in range(count):
        await asyncio.sleep(max(0.0, started + n / rate - time.monotonic()))
        tasks.append(asyncio.create_task(one(n)))
    await asyncio.gather(*tasks)
    await asyncio.wait_for(receiver.done.wait(), 600)
    # From the broker's acknowledgement (the event is in the log) to the request's arrival;
    # a request can arrive before the acknowledgement reaches us: 0 then.
    samples = [max(0.0, receiver.arrived[i] - t) * 1000 for i, t in published.items()]
    return percentile(samples, 50), percentile(samples, 99)


async def ceiling_throughput(receiver, url: str, count: int, concurrency: int) -> float:
    receiver.expect(count)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=0)
    gate = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(limits=limits, trust_env=False) as client:

        async def post(n: int) -> None:
            params = {"AccountSid": ACCOUNT, "Status": "sent", "N": str(n)}
            headers = {
                "X-Twilio-Signature": signature(TOKEN, url, params),
                "I-Twilio-Idempotency-Token": f"raw-{n}",
            }
            async with gate:
                await client.post(url, data=params, headers=headers)

        await asyncio.gather(*(post(n) for n in range(count)))
    times = sorted(receiver.arrived.values())
    return count / max(times[-1] - times[0], 1e-9)


async def ceiling_latency(url: str, rate: int, seconds: float) -> tuple[float, float]:
    samples: list[float] = []
    limits = httpx.Limits(max_keepalive_connections=0)
    async with httpx.AsyncClient(limits=limits, trust_env=False) as client:

        async def one(n: int) -> None:
            t = time.monotonic()
            await client.post(
                url, data={"N": str(n)}, headers={"I-Twilio-Idempotency-Token": f"l{n}"}
            )
            samples.append((time.monotonic() - t) * 1000)

        started, tasks = time.monotonic(), []
        for n in range(int(rate * seconds)):
            await asyncio.sleep(max(0.0, started + n / rate - time.monotonic()))
            tasks.append(asyncio.create_task(one(n)))
        await asyncio.gather(*tasks)
    return percentile(samples, 50), percentile(samples, 99)


async def one_run(base: Settings, args, tmp: Path) -> dict[str, float]:
    tag = uuid.uuid4().hex[:10]
    key = generate_key()
    settings = msgspec.structs.replace(
        with_topic_prefix(base, f"bench-{tag}"),
        database_url=base.database_url.rsplit("/", 1)[0] + f"/bench_{tag}",
        token_keys=key,
        token_keys_file="",
        webhook_allow="127.0.0.1",
    )
    admin = await asyncpg.connect(base.database_url)
    await admin.execute(f'create database "bench_{tag}"')
    await admin.close()
    receiver = Receiver()
    await receiver.start()
    url = f"http://127.0.0.1:{receiver.port}/hook"
    delivery = ServiceProcess("delivery", settings, log_path=tmp / f"{tag}-delivery.log")
    try:
        await migrate(settings.database_url)
        await ensure_topics(settings)
        delivery.start()
        producer = AIOKafkaProducer(
            **kafka_options(settings.kafka_bootstrap), acks="all", linger_ms=1
        )
        await producer.start()
        try:
            sealed = TokenSeal.from_keys([key]).seal(TOKEN)
            created = ev.AccountCreated(
                friendly_name="bench", auth_token_hash="0" * 64, auth_token_sealed=sealed
            )
            await publish(
                producer, settings.events_topic, _envelope(created, "Account", ACCOUNT, 1)
            )
            await throughput(settings, producer, receiver, url, 200)  # warm-up
            figures = {
                "deliveries/s": await throughput(settings, producer, receiver, url, args.webhooks),
                "raw POSTs/s": await ceiling_throughput(
                    receiver, url, args.webhooks, settings.webhook_concurrency
                ),
            }
            p50, p99 = await latency(settings, producer, receiver, url, args.rate, args.seconds)
            r50, r99 = await ceiling_latency(url, args.rate, args.seconds)
            figures.update({"event->request p50 ms": p50, "event->request p99 ms": p99,
                            "raw POST p50 ms": r50, "raw POST p99 ms": r99})  # fmt: skip
            return figures
        finally:
            await producer.stop()
    finally:
        delivery.stop()
        await receiver.runner.cleanup()
        admin = await asyncpg.connect(base.database_url)
        await drop_database(admin, f"bench_{tag}")
        await admin.close()
        await delete_topics_of(base.kafka_bootstrap, f"bench-{tag}.")


async def main(tmp: Path) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--webhooks", type=int, default=3000)
    parser.add_argument("--rate", type=int, default=100, help="events/s of the latency phase")
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    base = load_settings()
    runs = [await one_run(base, args, tmp) for _ in range(args.runs)]
    median = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
    print(f"webhook delivery, median of {args.runs} runs ({args.webhooks} webhooks; "
          f"{args.rate}/s for {args.seconds:.0f} s):")  # fmt: skip
    t, c = median["deliveries/s"], median["raw POSTs/s"]
    print(
        f"  throughput     {t:8,.0f} deliveries/s   ceiling {c:8,.0f} raw POSTs/s   ({t / c:.2f})"
    )
    for p in ("p50", "p99"):
        d, r = median[f"event->request {p} ms"], median[f"raw POST {p} ms"]
        print(f"  event->request {p} {d:7.1f} ms   raw POST {p} {r:7.1f} ms")


if __name__ == "__main__":
    logs = Path("/tmp/fleetstate-bench-delivery")  # the delivery service's logs, per run
    logs.mkdir(exist_ok=True)
    asyncio.run(main(logs))
