"""Recovery benchmark (not a test): `make bench-recovery` or
`.venv/bin/python bench/bench_recovery.py [--sizes 10000,1000000,10000000] [--runs 3]` with the
dev stack running.

For each size N and each processor, on fresh topics of the configured partition count:
1. a log of N records is written fast with the codec (bench/event_log.py): for the command
   processor N events changing a fixed live set (--live accounts of a profile, two Fleets and
   four Sims each); for the usage processor the same accounts' events and N usage-log records
   of numbered sessions of their Sims. History grows with N; the live state does not.
2. first start: the processor has no changelog yet and rebuilds from offset 0 (then writes
   its changelog). Time from spawning the process to its log saying it answers every
   partition.
3. --runs times: start-to-ready (a restart: spawn to answering every partition), the RSS of
   the process then, and rebalance-to-ready (a second instance spawned: until the two answer
   disjoint partitions covering all of them).
Ceiling printed beside start-to-ready, measured in the same run: spawning Python and
importing the service, plus a raw read_committed read of the whole changelog topic.

Then the usage processor's state for --sims Sims (default 1,000,000) with 24 numbered data
sessions a day each, in this process: RSS of the state after each of --days days (a billing
period's state is the same size as a day's: it does not grow with the sessions).
Figures are medians over the runs.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import re
import resource
import statistics
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aiokafka import TopicPartition  # noqa: E402
from aiokafka.admin import AIOKafkaAdminClient  # noqa: E402

from bench.common import deleting_fresh_topics, fresh_settings  # noqa: E402
from bench.event_log import event_chunks, partition_of, produce  # noqa: E402
from events.codec import decode_event  # noqa: E402
from events.kafka_security import kafka_options
from events.usage import DataSessionReport, UsageBucket, UsageFacts, encode_facts  # noqa: E402
from services.config import Settings, environment_of, load_settings  # noqa: E402
from services.domain.periods import BillingPeriod  # noqa: E402
from services.log_reader import log_consumer, read_to_end  # noqa: E402
from services.topics import ensure_topics  # noqa: E402
from services.usage.directory import Directory, SimEntry  # noqa: E402
from services.usage.domain import Batch  # noqa: E402
from services.usage.state import UsageState  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
ANSWERS = re.compile(r"(?:usage )?processor answers partitions \[([0-9, ]*)\]")
NETWORK = "HW" + "b" * 32
SERVICES = {"processor": "processor_changelog_topic", "usage-processor": "usage_changelog_topic"}


class Service:
    """A `fleetstate <name>` child process whose log says which partitions it answers."""

    def __init__(self, name: str, settings: Settings, log_path: Path) -> None:
        self.log_path = log_path
        self.seen = 0
        env = environment_of(settings)
        env["FLEETSTATE_PROCESSOR_METRICS_PORT"] = env["FLEETSTATE_USAGE_METRICS_PORT"] = "0"
        self.started = time.perf_counter()
        with log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "services.cli", "-v", name],
                env=env,
                stdout=log,
                stderr=log,
            )

    def answers(self) -> list[set[int]]:
        """Every 'answers partitions' line so far, in order."""
        found = ANSWERS.findall(self.log_path.read_text(errors="replace"))
        return [{int(p) for p in line.split(",") if p.strip()} for line in found]

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(60)


async def until_answering(services: list[Service], after: list[int], partitions: int) -> float:
    """Waits until each service has said, after its `after`-th line, which partitions it
    answers, and together they answer each partition once; returns when (perf_counter)."""
    while True:
        latest = []
        for service, skip in zip(services, after, strict=True):
            lines = service.answers()
            latest.append(lines[-1] if len(lines) > skip else None)
        if all(line is not None for line in latest):
            union = set().union(*latest)
            if union == set(range(partitions)) and sum(map(len, latest)) == partitions:
                return time.perf_counter()
        for service in services:
            if service.process.poll() is not None:
                raise RuntimeError(f"{service.log_path} ended: see its log")
        await asyncio.sleep(0.02)


async def raw_read(settings: Settings, topic: str) -> float:
    consumer = log_consumer(settings.kafka_bootstrap)
    await consumer.start()
    started = time.perf_counter()
    try:
        starts = {TopicPartition(topic, p): 0 for p in range(settings.partitions)}
        async for _ in read_to_end(consumer, starts):
            pass
    finally:
        await consumer.stop()
    return time.perf_counter() - started


def import_seconds() -> float:
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-c", "import services.processor.app, services.usage.processor"],
        check=True,
    )
    return time.perf_counter() - started


async def changelog_records(settings: Settings, topic: str) -> int:
    consumer = log_consumer(settings.kafka_bootstrap)
    await consumer.start()
    try:
        count = 0
        starts = {TopicPartition(topic, p): 0 for p in range(settings.partitions)}
        async for _, records in read_to_end(consumer, starts):
            count += len(records)
        return count
    finally:
        await consumer.stop()


# --- the logs ----------------------------------------------------------------------------------


async def write_events(settings: Settings, count: int, live: int) -> tuple[int, list]:
    """N events of the live set; returns how many, and the Sims registered (account, sid)."""
    sims = []

    def chunks():
        for chunk in event_chunks(count, settings.partitions, seed=11, live=live):
            for _, _, value in chunk:
                if b'"SimRegistered"' in value[:200]:
                    event = decode_event(value)
                    sims.append((event.account_sid, event.aggregate_id))
            yield chunk

    written, _ = await produce(settings.kafka_bootstrap, settings.events_topic, chunks())
    return written, sims


async def write_usage_log(settings: Settings, count: int, sims: list) -> int:
    """N usage-log records, one numbered session each, round the Sims."""
    rule = BillingPeriod.parse(settings.billing_period)
    now = time.time()
    period, hour = rule.start_of(now), int(now // 3600 * 3600)
    numbers = [0] * len(sims)

    def chunks():
        chunk = []
        for i in range(count):
            k = i % len(sims)
            account, sim = sims[k]
            numbers[k] += 1
            bucket = UsageBucket(
                account_sid=account, sim_sid=sim, fleet_sid=None, network_sid=NETWORK,
                period_start=period, period_end=rule.end_of(period), hour=hour,
                bytes_up=1000, bytes_down=1000, sessions=[], sequences=[numbers[k]],
            )  # fmt: skip
            facts = UsageFacts(current_period=period, reports=1, buckets=[bucket])
            chunk.append((partition_of(account, settings.partitions), None, encode_facts(facts)))
            if len(chunk) == 50_000:
                yield chunk
                chunk = []
        if chunk:
            yield chunk

    written, _ = await produce(settings.kafka_bootstrap, settings.usage_log_topic, chunks())
    return written


async def delete_topics(settings: Settings) -> None:
    admin = AIOKafkaAdminClient(**kafka_options(settings.kafka_bootstrap))
    await admin.start()
    try:
        prefix = settings.commands_topic.rsplit(".", 1)[0] + "."
        await admin.delete_topics([t for t in await admin.list_topics() if t.startswith(prefix)])
    finally:
        await admin.close()


# --- one size ----------------------------------------------------------------------------------


async def measure(name: str, settings: Settings, runs: int, logs: Path) -> dict:
    """First start (rebuild), then `runs` restarts and rebalances of `fleetstate <name>`."""
    n = settings.partitions
    logs = logs / settings.commands_topic.split(".")[0]
    logs.mkdir(exist_ok=True)
    first = Service(name, settings, logs / f"{name}-first.log")
    rebuilt = await until_answering([first], [0], n) - first.started
    first.stop()
    changelog = getattr(settings, SERVICES[name])
    restarts, rebalances, rss, floors = [], [], [], []
    for run in range(runs):
        floors.append(import_seconds() + await raw_read(settings, changelog))
        a = Service(name, settings, logs / f"{name}-{run}-a.log")
        restarts.append(await until_answering([a], [0], n) - a.started)
        await asyncio.sleep(1)
        rss.append(a.rss_mb())
        before = len(a.answers())
        b = Service(name, settings, logs / f"{name}-{run}-b.log")
        rebalances.append(await until_answering([a, b], [before, 0], n) - b.started)
        b.stop()
        a.stop()
    return {
        "rebuild": rebuilt,
        "ready": statistics.median(restarts),
        "rebalance": statistics.median(rebalances),
        "rss": statistics.median(rss),
        "floor": statistics.median(floors),
        "changelog": await changelog_records(settings, changelog),
    }


async def one_size(base: Settings, size: int, live: int, runs: int, logs: Path) -> dict:
    settings = fresh_settings(base)
    await ensure_topics(settings)
    try:
        started = time.perf_counter()
        events, sims = await write_events(settings, size, live)
        print(f"{size:,}: {events:,} events written in {time.perf_counter() - started:.0f}s")
        processor = await measure("processor", settings, runs, logs)
        started = time.perf_counter()
        facts = await write_usage_log(settings, size, sims)
        print(f"{size:,}: {facts:,} usage-log records in {time.perf_counter() - started:.0f}s")
        usage = await measure("usage-processor", settings, runs, logs)
    finally:
        await delete_topics(settings)
    for label, result in (("processor", processor), ("usage processor", usage)):
        print(
            f"{size:>10,} {label:<16}: rebuild {result['rebuild']:6.1f}s; start-to-ready "
            f"{result['ready']:5.2f}s (floor {result['floor']:.2f}s); rebalance-to-ready "
            f"{result['rebalance']:5.2f}s; RSS {result['rss']:5.0f} MB; changelog "
            f"{result['changelog']:,} records",
            flush=True,
        )
    return {"processor": processor, "usage": usage, "sims": len(sims)}


# --- the usage state of a big fleet ------------------------------------------------------------


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def usage_state(sims: int, days: int) -> None:
    rule = BillingPeriod.parse("month")
    gc.collect()
    before = rss_mb()
    directory = Directory()
    account = "AC" + "c" * 32
    sids = [f"HS{i:032x}" for i in range(sims)]
    for sid in sids:
        directory.sims[sid] = SimEntry(sid, account, "89" + sid[-18:], None, "active", 1)
    state = UsageState(rule, dedup_periods=2)
    gc.collect()
    with_directory = rss_mb()
    print(f"\nusage state of {sims:,} Sims, 24 numbered data sessions a day each:")
    print(f"  directory: {with_directory - before:,.0f} MB")
    start = datetime(2026, 11, 1, tzinfo=UTC).timestamp()
    for day in range(days):
        began = time.perf_counter()
        for hour in range(24):
            end = start + day * 86400 + hour * 3600 + 1800
            ended = datetime.fromtimestamp(end, UTC)
            batch = Batch(state, directory)
            for i, sid in enumerate(sids):
                report = DataSessionReport(
                    session_id=f"s{day}-{hour}", account_sid=account, sim=sid,
                    network_sid=NETWORK, bytes_up=1000, bytes_down=1000,
                    start_time=ended, end_time=ended, sequence=day * 24 + hour + 1,
                )  # fmt: skip
                batch.record(report, end + 60)
                if i % 20_000 == 19_999:  # the processor's largest batch
                    batch.settle()
                    batch = Batch(state, directory)
            batch.settle()
        state.dirty.clear()
        gc.collect()
        total = rss_mb() - before
        per_sim = (rss_mb() - with_directory) * 1024 * 1024 / sims
        record = len(state.record_of(sids[0]))
        print(
            f"  after day {day + 1} ({24 * (day + 1)} sessions per Sim, "
            f"{time.perf_counter() - began:.0f}s): state {total:,.0f} MB in all, usage "
            f"{per_sim:.0f} bytes per Sim in memory, {record} bytes per Sim in the changelog",
            flush=True,
        )


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="10000,1000000,10000000")
    parser.add_argument("--runs", type=int, default=3)
    # 500 accounts (6,000 aggregates with their cards) all exist after the first 10,000 events:
    # every size then has the same live state, and only the history differs.
    parser.add_argument("--live", type=int, default=500, help="accounts of the live set")
    parser.add_argument("--sims", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=2)
    args = parser.parse_args()
    base = load_settings()
    logs = RESULTS / f"recovery-{uuid.uuid4().hex[:6]}"
    logs.mkdir(parents=True, exist_ok=True)
    sizes = [int(s) for s in args.sizes.split(",")]
    results = {size: await one_size(base, size, args.live, args.runs, logs) for size in sizes}
    print(
        f"\n{base.partitions} partitions; live set: {args.live} accounts, "
        f"{results[sizes[0]]['sims']:,} Sims; medians of {args.runs} runs; logs in {logs}"
    )
    for kind in ("processor", "usage"):
        small, large = results[sizes[0]][kind], results[sizes[-1]][kind]
        print(
            f"{kind:<10}: start-to-ready at {sizes[-1]:,} {large['ready']:.2f}s (goal <= 5), "
            f"{sizes[-1]:,}/{sizes[0]:,} ratio {large['ready'] / small['ready']:.2f} "
            f"(goal <= 2); rebalance-to-ready ratio "
            f"{large['rebalance'] / small['rebalance']:.2f}; RSS {small['rss']:.0f} -> "
            f"{large['rss']:.0f} MB"
        )
    if args.sims:
        usage_state(args.sims, args.days)


if __name__ == "__main__":
    asyncio.run(deleting_fresh_topics(main()))
