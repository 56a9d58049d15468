"""Command processor benchmark (not a test): `make bench-processor` or
`.venv/bin/python bench/bench_processor.py [--commands N] [--runs R]` with the dev stack running.

For each run, on fresh topics of the configured partition count:
1. ceiling: raw aiokafka, messages of the size of our encoded commands produced (idempotent,
   acks=all, as the client does) and consumed (read_committed) through one topic; messages/s
   from the first send to the last message read.
2. sustained: N commands of the workload's steady mix through CommandClient.execute_many to a
   `fleetstate processor` child process; commands/s from the first send to the last outcome.
3. latency: commands offered at a fixed 1,000/s (10 every 10 ms) for a few seconds; the time
   from send to outcome of each, p50 and p99.
Figures are medians over the runs; the ratio is sustained / ceiling of the same run.

Tracing's cost without an exporter: every run does 2. and 3. twice, on fresh topics each time,
in an order that alternates from run to run: with FLEETSTATE_TRACING=off (no header read or
written, in this process and the processor's) and with the default (propagation on, no OTLP
endpoint), every command sent with a traceparent, so the processor extracts it and writes it
on every event and outcome. The overhead is printed as the ratio default / off.
`--untraced-callers`: the default arm's commands carry no traceparent (callers that trace
nothing: the default deployment's common case, where there is nothing to propagate).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import msgspec
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import fresh_settings, percentile  # noqa: E402
from bench.workload import Workload  # noqa: E402
from events import tracing  # noqa: E402
from events.client import CommandClient  # noqa: E402
from events.codec import encode_command  # noqa: E402
from events.kafka_security import kafka_options  # noqa: E402
from services.config import (  # noqa: E402
    Settings,
    environment_of,
    load_settings,
)
from services.topics import ensure_topics  # noqa: E402

LATENCY_RATE = 1000  # commands/s offered in the latency phase
LATENCY_SECONDS = 8
# The caller's trace context every command carries in the default (tracing on) arm.
TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
RESULTS = Path(__file__).resolve().parent / "results"  # processor logs of each run


async def raw_ceiling(settings: Settings, count: int, size: int) -> float:
    """messages/s through one topic with raw aiokafka: produce everything, consume everything."""
    await ensure_topics(settings)
    topic = settings.commands_topic
    producer = AIOKafkaProducer(
        **kafka_options(settings.kafka_bootstrap), acks="all", enable_idempotence=True, linger_ms=1
    )
    consumer = AIOKafkaConsumer(
        topic,
        **kafka_options(settings.kafka_bootstrap),
        isolation_level="read_committed",
        auto_offset_reset="earliest",
        fetch_max_wait_ms=5,
    )
    await producer.start()
    await consumer.start()
    payload = b"x" * size
    keys = [f"AC{i:032x}".encode() for i in range(64)]
    try:
        started = time.perf_counter()

        async def produce() -> None:
            acks = [
                await producer.send(topic, payload, key=keys[i % len(keys)]) for i in range(count)
            ]
            await asyncio.gather(*acks)

        sending = asyncio.create_task(produce())
        seen = 0
        while seen < count:
            batches = await consumer.getmany(timeout_ms=500, max_records=10_000)
            seen += sum(len(records) for records in batches.values())
        elapsed = time.perf_counter() - started
        await sending
        return count / elapsed
    finally:
        await consumer.stop()
        await producer.stop()


class Processor:
    def __init__(self, settings: Settings, log_path: Path) -> None:
        self.log = log_path.open("ab")
        env = environment_of(settings)
        for var in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
            env.pop(var, None)  # measured without an exporter, whatever this shell has
        self.process = subprocess.Popen(
            [sys.executable, "-m", "services.cli", "processor"],
            env=env,
            stdout=self.log,
            stderr=self.log,
        )

    def cpu_seconds(self) -> float:
        """User + system CPU the processor has used so far (Linux /proc): unlike its
        throughput, hardly moved by whatever else the machine is running."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(30)
        self.log.close()


async def sustained(
    client: CommandClient, setup: list, steady: list, traceparent: str | None = None
) -> float:
    for phase in setup:
        await client.execute_many(phase, timeout=300, traceparent=traceparent)
    started = time.perf_counter()
    outcomes = await client.execute_many(steady, timeout=600, traceparent=traceparent)
    elapsed = time.perf_counter() - started
    assert len(outcomes) == len(steady)
    return len(steady) / elapsed


async def latency(
    client: CommandClient, commands: list, traceparent: str | None = None
) -> list[float]:
    """Offers LATENCY_RATE commands/s; returns each send-to-outcome time."""
    tick, per_tick = 0.01, LATENCY_RATE // 100
    timings: list[float] = []

    async def one(envelope) -> None:
        started = time.perf_counter()
        await client.execute(envelope, timeout=60, traceparent=traceparent)
        timings.append(time.perf_counter() - started)

    tasks = []
    begin = time.perf_counter()
    for i in range(0, len(commands), per_tick):
        # Paced against the clock, not by sleeping a fixed time, so the offered rate holds.
        target = begin + (i // per_tick) * tick
        await asyncio.sleep(max(0.0, target - time.perf_counter()))
        tasks += [asyncio.create_task(one(e)) for e in commands[i : i + per_tick]]
    await asyncio.gather(*tasks)
    # The first second warms the connections and the JIT-less paths; measure the rest.
    return timings[LATENCY_RATE:]


async def traced_or_not(
    base: Settings, workload_seed: int, count: int, log_path: Path, on: bool, traced: bool = True
) -> dict:
    """Phases 2 and 3 on fresh topics, tracing on (the default, every command sent with a
    traceparent) or off (FLEETSTATE_TRACING=off here and in the processor)."""
    settings = msgspec.structs.replace(fresh_settings(base), tracing="on" if on else "off")
    workload = Workload(seed=workload_seed, accounts=200, sims_per_account=4)
    setup = [workload.operator_commands(), workload.setup_commands()]
    steady = workload.steady_commands(count)
    paced = workload.steady_commands(LATENCY_RATE * LATENCY_SECONDS)
    traceparent = TRACEPARENT if on and traced else None
    tracing.switch(on)
    await ensure_topics(settings)
    processor = Processor(settings, log_path)
    client_cpu = time.process_time()
    try:
        async with CommandClient(
            settings.kafka_bootstrap,
            commands_topic=settings.commands_topic,
            operator_topic=settings.operator_topic,
            internal_topic=settings.internal_topic,
            outcomes_topic=settings.outcomes_topic,
            actor="bench",
        ) as client:
            rate = await sustained(client, setup, steady, traceparent)
            timings = await latency(client, paced, traceparent)
            commands = sum(map(len, setup)) + len(steady) + len(paced)
            cpu = processor.cpu_seconds() / commands
            client_cpu = (time.process_time() - client_cpu) / commands
    finally:
        processor.stop()
        tracing.switch(True)
    return {
        "rate": rate,
        "p50": percentile(timings, 50),
        "p99": percentile(timings, 99),
        "size": int(statistics.median(len(encode_command(c)) for c in steady)),
        "cpu": cpu,  # the processor's CPU seconds per command, start-up included
        "client_cpu": client_cpu,  # this process's (the sender's)
    }


async def one_run(
    base: Settings, count: int, run: int, logs: Path, traced_callers: bool = True
) -> dict:
    arms = {}
    for on in (True, False) if run % 2 == 0 else (False, True):
        log_path = logs / f"processor-{run}-tracing-{'on' if on else 'off'}.log"
        arms[on] = await traced_or_not(base, 1000 + run, count, log_path, on, traced_callers)
    on, off = arms[True], arms[False]
    ceiling = await raw_ceiling(fresh_settings(base), count, off["size"])
    return {
        "ceiling": ceiling,
        **on,  # the figures of the default: tracing on, no exporter
        "off_rate": off["rate"],
        "off_cpu": off["cpu"],
        "off_client_cpu": off["client_cpu"],
        "off_p50": off["p50"],
        "off_p99": off["p99"],
    }


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--commands", type=int, default=50_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--untraced-callers",
        action="store_true",
        help="tracing's default arm with commands that carry no traceparent",
    )
    args = parser.parse_args()
    base = load_settings()
    RESULTS.mkdir(exist_ok=True)
    runs = []
    for run in range(args.runs):
        result = await one_run(base, args.commands, run, RESULTS, not args.untraced_callers)
        runs.append(result)
        print(
            f"run {run + 1}: {result['rate']:,.0f} commands/s sustained, "
            f"raw ceiling {result['ceiling']:,.0f} msg/s, "
            f"p50 {result['p50'] * 1000:.1f} ms, p99 {result['p99'] * 1000:.1f} ms "
            f"at {LATENCY_RATE}/s; tracing off: {result['off_rate']:,.0f} commands/s, "
            f"p50 {result['off_p50'] * 1000:.1f} ms, p99 {result['off_p99'] * 1000:.1f} ms",
            flush=True,
        )

    def median(key: str) -> float:
        return statistics.median(r[key] for r in runs)

    ratio = statistics.median(r["rate"] / r["ceiling"] for r in runs)
    print(
        f"\n{base.partitions} partitions, {runs[0]['size']}-byte commands, "
        f"{args.commands:,} commands per run, median of {len(runs)} runs"
    )
    print(
        f"sustained   : {median('rate'):>10,.0f} commands/s  (raw aiokafka ceiling "
        f"{median('ceiling'):,.0f} msg/s, ratio {ratio:.2f})   goal >= 10,000 and >= 0.30"
    )
    print(
        f"at {LATENCY_RATE}/s  : p50 {median('p50') * 1000:.1f} ms, "
        f"p99 {median('p99') * 1000:.1f} ms   goal p99 <= 50 ms"
    )
    overhead = statistics.median(r["rate"] / r["off_rate"] for r in runs)
    cpu_ratio = statistics.median(r["cpu"] / r["off_cpu"] for r in runs)
    client_ratio = statistics.median(r["client_cpu"] / r["off_client_cpu"] for r in runs)
    p50_ratio = statistics.median(r["p50"] / r["off_p50"] for r in runs)
    callers = "no command" if args.untraced_callers else "every command"
    print(
        f"tracing     : propagation on, no exporter, {callers} with a traceparent: "
        f"{median('rate'):,.0f} commands/s, p50 {median('p50') * 1000:.1f} ms; "
        f"FLEETSTATE_TRACING=off: {median('off_rate'):,.0f} commands/s, "
        f"p50 {median('off_p50') * 1000:.1f} ms, p99 {median('off_p99') * 1000:.1f} ms"
    )
    print(
        f"tracing CPU : processor {median('cpu') * 1e6:.0f} vs {median('off_cpu') * 1e6:.0f} us "
        f"per command (on/off {cpu_ratio:.3f}); sender {median('client_cpu') * 1e6:.0f} vs "
        f"{median('off_client_cpu') * 1e6:.0f} us (on/off {client_ratio:.3f})"
    )
    print(
        f"tracing cost: throughput on/off {overhead:.3f}, p50 on/off {p50_ratio:.3f}   "
        "goal throughput >= 0.95 (overhead at most 5%)"
    )


if __name__ == "__main__":
    asyncio.run(main())
