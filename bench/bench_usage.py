"""Usage processor benchmark (not a test): `.venv/bin/python bench/bench_usage.py [--reports N]
[--runs R]` with the dev stack running.

For each run, on fresh topics of the configured partition count, with a `fleetstate processor`
and 50 accounts of 20 active Sims each (half in a Fleet with 2 TB, half in one with 1 MB):
1. ingest: N reports for the 2 TB Sims are produced to the usage topic with raw aiokafka first;
   then a `fleetstate usage-processor` starts and consumes, counts and commits them. Rate =
   reports after its first transaction / time between its first and last usage-log record.
   Ceiling: N messages of the same size pre-produced to a fresh topic, read by a raw
   read_committed aiokafka consumer; the same formula over first and last fetch.
2. suspension delay: 1,000 reports/s offered for LATENCY_SECONDS to the 1 MB Sims (each Sim
   crosses its limit at a report of its own between the 3rd and 18th): time from sending the
   crossing report to reading its SimDataSuspended event. Ceiling: raw one-hop produce ->
   consume latency of messages of the same size at the same rate.
Figures are medians over the runs.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import command_client, deleting_fresh_topics, fresh_settings, percentile  # noqa: E402
from events.client import CommandClient  # noqa: E402
from events.codec import decode_event  # noqa: E402
from events.commands import (  # noqa: E402
    CreateAccount,
    CreateFleet,
    CreateNetworkAccessProfile,
    NetworkIdentifier,
    ProvisionNetwork,
    ProvisionSimCard,
    RegisterSim,
    UpdateSim,
)
from events.kafka_security import kafka_options  # noqa: E402
from events.sids import OPERATOR_ACCOUNT_SID, derive_sid  # noqa: E402
from events.usage import DataSessionReport, decode_facts, encode_report  # noqa: E402
from services.config import (  # noqa: E402
    Settings,
    environment_of,
    load_settings,
)
from services.log_reader import read_all  # noqa: E402
from services.topics import ensure_topics  # noqa: E402

ACCOUNTS, SIMS_PER_ACCOUNT = 50, 20
LATENCY_RATE, LATENCY_SECONDS = 1000, 10
RESULTS = Path(__file__).resolve().parent / "results"


class Service:
    def __init__(self, name: str, settings: Settings, log_path: Path) -> None:
        self.log = log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "services.cli", "-v", name],
            env=environment_of(settings),
            stdout=self.log,
            stderr=self.log,
        )

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(30)
        self.log.close()


async def provision(client: CommandClient, run: int) -> tuple[list, list]:
    """(big, small): (account, sim sid) of the Sims in the 2 TB and the 1 MB Fleets."""
    ops = [
        client.envelope(
            ProvisionNetwork(
                friendly_name="Bench carrier",
                iso_country="FR",
                identifiers=[NetworkIdentifier(mcc="208", mnc="01")],
            ),
            account_sid=OPERATOR_ACCOUNT_SID,
        )
    ]
    iccid = {(a, s): f"8933{run:03d}{a:04d}{s:04d}0000" for a in range(ACCOUNTS)
             for s in range(SIMS_PER_ACCOUNT)}  # fmt: skip
    ops += [
        client.envelope(ProvisionSimCard(iccid=i, registration_code=f"RC{a:04d}{s:04d}"),
                        account_sid=OPERATOR_ACCOUNT_SID)
        for (a, s), i in iccid.items()
    ]  # fmt: skip
    await client.execute_many(ops, timeout=300)
    accounts = [derive_sid("AC", f"bench-usage-{run}-{a}") for a in range(ACCOUNTS)]
    setup = []
    for account in accounts:
        created = CreateAccount(friendly_name="bench", auth_token_hash="0" * 64)
        setup.append(client.envelope(created, account_sid=account))
        setup.append(
            client.envelope(CreateNetworkAccessProfile(unique_name="nap"), account_sid=account)
        )
        for name, limit in (("big", 2_000_000), ("small", 1)):
            setup.append(client.envelope(
                CreateFleet(network_access_profile="nap", unique_name=name, data_limit=limit),
                account_sid=account))  # fmt: skip
    await client.execute_many(setup, timeout=300)
    registrations = [
        client.envelope(RegisterSim(iccid=iccid[(a, s)], registration_code=f"RC{a:04d}{s:04d}"),
                        account_sid=account)
        for a, account in enumerate(accounts) for s in range(SIMS_PER_ACCOUNT)
    ]  # fmt: skip
    outcomes = await client.execute_many(registrations, timeout=300)
    big, small, updates = [], [], []
    for i, outcome in enumerate(outcomes):
        account, sim = outcome.account_sid, outcome.events[0].aggregate_id
        fleet = "big" if i % SIMS_PER_ACCOUNT < SIMS_PER_ACCOUNT // 2 else "small"
        (big if fleet == "big" else small).append((account, sim))
        updates.append(client.envelope(UpdateSim(sim=sim, fleet=fleet, status="active"),
                                       account_sid=account))  # fmt: skip
    await client.execute_many(updates, timeout=300)
    return big, small


def make_report(account: str, sim: str, bytes_down: int, network: str) -> DataSessionReport:
    now = datetime.now(UTC)
    return DataSessionReport(
        session_id=uuid.uuid4().hex,
        account_sid=account,
        sim=sim,
        network_sid=network,
        bytes_up=1000,
        bytes_down=bytes_down,
        start_time=now,
        end_time=now,
    )


def producer(settings: Settings) -> AIOKafkaProducer:
    return AIOKafkaProducer(
        **kafka_options(settings.kafka_bootstrap),
        acks="all",
        enable_idempotence=True,
        linger_ms=5,
        max_batch_size=256 * 1024,
    )


async def produce_all(settings: Settings, topic: str, messages: list[tuple[bytes, bytes]]) -> None:
    p = producer(settings)
    await p.start()
    try:
        acks = [await p.send(topic, value, key=key) for key, value in messages]
        await asyncio.gather(*acks)
    finally:
        await p.stop()


async def raw_consume_rate(settings: Settings, count: int, size: int) -> float:
    """messages/s of a raw read_committed consumer over `count` pre-produced messages."""
    topic = settings.usage_topic
    await ensure_topics(settings)
    keys = [f"AC{i:032x}".encode() for i in range(ACCOUNTS)]
    await produce_all(settings, topic, [(keys[i % ACCOUNTS], b"x" * size) for i in range(count)])
    consumer = AIOKafkaConsumer(
        topic,
        **kafka_options(settings.kafka_bootstrap),
        isolation_level="read_committed",
        auto_offset_reset="earliest",
        fetch_max_wait_ms=5,
        max_partition_fetch_bytes=8 * 1024 * 1024,
    )
    await consumer.start()
    try:
        seen, first, first_count = 0, None, 0
        while seen < count:
            batches = await consumer.getmany(timeout_ms=500, max_records=20_000)
            got = sum(len(records) for records in batches.values())
            if got and first is None:
                first, first_count = time.perf_counter(), got
            seen += got
        return (count - first_count) / (time.perf_counter() - first)
    finally:
        await consumer.stop()


async def ingest(settings: Settings, big: list, network: str, count: int, logs: Path, run: int):
    rng = random.Random(run)
    reports = [make_report(*rng.choice(big), rng.randrange(100_000), network) for _ in range(count)]
    encoded = [(r.account_sid.encode(), encode_report(r)) for r in reports]
    size = int(statistics.median(len(v) for _, v in encoded))
    await produce_all(settings, settings.usage_topic, encoded)
    usage = Service("usage-processor", settings, logs / f"usage-{run}.log")
    try:
        while True:
            await asyncio.sleep(1)
            records = await read_all(settings.kafka_bootstrap, settings.usage_log_topic)
            facts = sorted(
                (r.timestamp, decode_facts(r.value).reports) for rs in records.values() for r in rs
            )
            if sum(n for _, n in facts) >= count:
                break
    except BaseException:
        usage.stop()
        raise
    # The usage processor keeps running for the latency phase.
    first_ms, first_n = facts[0]
    rate = (count - first_n) / ((facts[-1][0] - first_ms) / 1000)
    return usage, rate, size


async def suspension_delays(settings: Settings, small: list, network: str) -> list[float]:
    rng = random.Random(7)
    crossing_at = {sim: rng.randrange(3, 19) for _, sim in small}  # the report that crosses
    sent_at: dict[str, float] = {}
    arrived: dict[str, float] = {}
    consumer = AIOKafkaConsumer(
        settings.events_topic,
        **kafka_options(settings.kafka_bootstrap),
        isolation_level="read_committed",
        auto_offset_reset="latest",
        fetch_max_wait_ms=5,
    )
    await consumer.start()
    await consumer.seek_to_end()
    for tp in consumer.assignment():
        await consumer.position(tp)

    async def read() -> None:
        while len(arrived) < len(small):
            batches = await consumer.getmany(timeout_ms=200)
            for records in batches.values():
                for record in records:
                    if dict(record.headers).get("type") == b"SimDataSuspended":
                        arrived[decode_event(record.value).aggregate_id] = time.perf_counter()

    reader = asyncio.create_task(read())
    p = producer(settings)
    await p.start()
    try:
        tick, per_tick = 0.01, LATENCY_RATE // 100
        begin, i = time.perf_counter(), 0
        counts = {sim: 0 for _, sim in small}
        while i < LATENCY_RATE * LATENCY_SECONDS:
            await asyncio.sleep(max(0.0, begin + (i // per_tick) * tick - time.perf_counter()))
            for _ in range(per_tick):
                account, sim = small[i % len(small)]
                counts[sim] += 1
                # 1.1 MB over `crossing_at` reports: the limit (1 MB) is passed at that report.
                report = make_report(account, sim, 1_100_000 // crossing_at[sim], network)
                await p.send(settings.usage_topic, encode_report(report), key=account.encode())
                if counts[sim] == crossing_at[sim]:
                    sent_at[sim] = time.perf_counter()
                i += 1
        await p.flush()
        async with asyncio.timeout(30):
            await reader
    finally:
        reader.cancel()
        await p.stop()
        await consumer.stop()
    return [arrived[sim] - sent_at[sim] for sim in sent_at if sim in arrived]


async def raw_hop_latency(settings: Settings, size: int) -> list[float]:
    await ensure_topics(settings)
    topic = settings.usage_topic
    consumer = AIOKafkaConsumer(topic, **kafka_options(settings.kafka_bootstrap),
                                isolation_level="read_committed", auto_offset_reset="earliest",
                                fetch_max_wait_ms=5)  # fmt: skip
    await consumer.start()
    p = producer(settings)
    await p.start()
    sent: dict[bytes, float] = {}
    delays: list[float] = []
    total = LATENCY_RATE * 5

    async def read() -> None:
        while len(delays) < total:
            for records in (await consumer.getmany(timeout_ms=200)).values():
                delays.extend(time.perf_counter() - sent[r.value[:8]] for r in records)

    reader = asyncio.create_task(read())
    try:
        begin = time.perf_counter()
        for i in range(total):
            await asyncio.sleep(max(0.0, begin + (i // 10) * 0.01 - time.perf_counter()))
            value = i.to_bytes(8, "big") + b"x" * (size - 8)
            sent[value[:8]] = time.perf_counter()
            await p.send(topic, value, key=f"AC{i % ACCOUNTS:032x}".encode())
        async with asyncio.timeout(30):
            await reader
    finally:
        reader.cancel()
        await p.stop()
        await consumer.stop()
    return delays[LATENCY_RATE:]


async def one_run(base: Settings, count: int, run: int, logs: Path) -> dict:
    settings = fresh_settings(base)
    await ensure_topics(settings)
    processor = Service("processor", settings, logs / f"usage-bench-processor-{run}.log")
    usage = None
    try:
        async with command_client(settings) as client:
            big, small = await provision(client, run)
        network = derive_sid("HW", "bench-network")
        usage, rate, size = await ingest(settings, big, network, count, logs, run)
        delays = await suspension_delays(settings, small, network)
    finally:
        if usage is not None:
            usage.stop()
        processor.stop()
    ceiling = await raw_consume_rate(fresh_settings(base), count, size)
    hops = await raw_hop_latency(fresh_settings(base), size)
    return {
        "rate": rate,
        "ceiling": ceiling,
        "p50": percentile(delays, 50),
        "p99": percentile(delays, 99),
        "crossings": len(delays),
        "raw_p50": percentile(hops, 50),
        "raw_p99": percentile(hops, 99),
        "size": size,
    }


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reports", type=int, default=300_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    base = load_settings()
    RESULTS.mkdir(exist_ok=True)
    runs = []
    for run in range(args.runs):
        r = await one_run(base, args.reports, run, RESULTS)
        runs.append(r)
        print(
            f"run {run + 1}: ingest {r['rate']:,.0f} reports/s (raw consume ceiling "
            f"{r['ceiling']:,.0f} msg/s); suspension delay p50 {r['p50'] * 1000:.0f} ms, "
            f"p99 {r['p99'] * 1000:.0f} ms over {r['crossings']} crossings (raw one-hop "
            f"p50 {r['raw_p50'] * 1000:.1f} ms, p99 {r['raw_p99'] * 1000:.1f} ms)",
            flush=True,
        )

    def median(key: str) -> float:
        return statistics.median(r[key] for r in runs)

    print(
        f"\n{base.partitions} partitions, {runs[0]['size']}-byte reports, {args.reports:,} "
        f"reports per run, median of {len(runs)} runs"
    )
    print(
        f"ingest      : {median('rate'):>10,.0f} reports/s  (raw aiokafka consume ceiling "
        f"{median('ceiling'):,.0f} msg/s, ratio {median('rate') / median('ceiling'):.2f})   "
        "goal >= 50,000"
    )
    print(
        f"suspension  : p50 {median('p50') * 1000:.0f} ms, p99 {median('p99') * 1000:.0f} ms "
        f"at {LATENCY_RATE} reports/s (raw one-hop p50 {median('raw_p50') * 1000:.1f} ms, "
        f"p99 {median('raw_p99') * 1000:.1f} ms)   goal p99 <= 1 s"
    )


if __name__ == "__main__":
    asyncio.run(deleting_fresh_topics(main()))
