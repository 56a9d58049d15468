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
4. in flight: the same three commands per SIM (RegisterSim, AssignSim as UpdateSim(fleet),
   ActivateSim as UpdateSim(status=active)) for 1,000 SIMs, each call waiting for its durable
   answer, with 1, 8 and 128 calls in flight (a SIM's three one after another); beside it,
   pyeventsourcing on the dev stack's PostgreSQL doing the same (bench/pg_event_store.py), in
   the same run: commands/s and p50/p99 of each, and fleetstate's commands/s over its.
5. tracing: tracing's cost without an exporter. Phases 2 and 3 twice, on fresh topics each
   time, in an order that alternates from run to run: with FLEETSTATE_TRACING=off (no header
   read or written, in this process and the processor's) and with the default (propagation on,
   no OTLP endpoint), every command sent with a traceparent, so the processor relays it onto
   every event and outcome (`--untraced-callers`: none, the common case of a deployment without
   an exporter). Printed: throughput, p50 and the CPU the processor and this process (the
   sender) spent per command, each as the ratio default / off.
Figures are medians over the runs; the ratio is sustained / ceiling of the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import time
from pathlib import Path

import asyncpg
import msgspec
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import cpu as bench_cpu  # noqa: E402
from bench import hops  # noqa: E402
from bench.common import command_client, deleting_fresh_topics, fresh_settings, percentile  # noqa: E402
from bench.pg_event_store import sims_on  # noqa: E402
from bench.workload import Workload  # noqa: E402
from events import tracing  # noqa: E402
from events.client import CommandClient  # noqa: E402
from events.codec import encode_command  # noqa: E402
from events.commands import CommandEnvelope, RegisterSim, UpdateSim  # noqa: E402
from events.kafka_security import kafka_options  # noqa: E402
from services.config import (  # noqa: E402
    Settings,
    environment_of,
    load_settings,
)
from services.topics import ensure_topics  # noqa: E402

LATENCY_RATE = 1000  # commands/s offered in the latency phase
LATENCY_SECONDS = 8
IN_FLIGHT = (1, 8, 128)  # calls in flight in the in-flight phase
IN_FLIGHT_SIMS = 1000
WARM_UP_SIMS = 20  # per level, before the measured ones: connections, metadata, caches
RESULTS = Path(__file__).resolve().parent / "results"  # processor logs of each run
# The caller's trace context every command carries in the tracing phase's default arm.
TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


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
        """User + system CPU the processor has used so far (Linux /proc): less moved than its
        throughput by whatever else the machine is running."""
        return bench_cpu.cpu_seconds(self.process.pid)

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


def sim_chains(workload: Workload) -> tuple[list[CommandEnvelope], list[list[CommandEnvelope]]]:
    """The workload's accounts, profile and Fleets (to send first), and per SIM its
    RegisterSim, AssignSim and ActivateSim."""
    setup = workload.setup_commands()
    registers = [e for e in setup if isinstance(e.command, RegisterSim)]
    chains = []
    for register, (_, sim) in zip(registers, workload.sims(), strict=True):
        steps = [("assign", UpdateSim(sim=sim, fleet="fleet-a"))]
        steps.append(("activate", UpdateSim(sim=sim, status="active")))
        chains.append(
            [register]
            + [
                msgspec.structs.replace(
                    register, command_id=f"{register.command_id}-{step}", command=command
                )
                for step, command in steps
            ]
        )
    return [e for e in setup if not isinstance(e.command, RegisterSim)], chains


CHAIN_STEPS = ("RegisterSim", "AssignSim", "ActivateSim")  # sim_chains' order


async def fleetstate_in_flight(
    client: CommandClient, chains: list[list[CommandEnvelope]], width: int
) -> tuple[float, list[float], dict[str, list[float]]]:
    """commands/s and each call's time to its outcome, `width` SIMs' chains at once; the
    times also by step (a RegisterSim takes three transactions on two partitions)."""
    timings: list[float] = []
    by_step: dict[str, list[float]] = {step: [] for step in CHAIN_STEPS}
    pending = iter(chains)  # shared: each caller takes the next SIM

    async def caller() -> None:
        for chain in pending:
            for step, envelope in zip(CHAIN_STEPS, chain, strict=True):
                started = time.perf_counter()
                outcome = await client.execute(envelope, timeout=60)
                timings.append(time.perf_counter() - started)
                by_step[step].append(timings[-1])
                assert outcome.status == "accepted", outcome.rejection

    started = time.perf_counter()
    await asyncio.gather(*(caller() for _ in range(width)))
    return len(timings) / (time.perf_counter() - started), timings, by_step


async def store_in_flight(app, threads, sims: list[tuple[str, str]], width: int):
    """The same for the PostgreSQL event store, each call in a thread of `threads`."""
    loop = asyncio.get_running_loop()
    timings: list[float] = []
    pending = iter(sims)

    async def call(method, *args):
        started = time.perf_counter()
        result = await loop.run_in_executor(threads, method, *args)
        timings.append(time.perf_counter() - started)
        return result

    async def caller() -> None:
        for account, iccid in pending:
            sim_id = await call(app.register, account, iccid)
            await call(app.assign, sim_id, "fleet-a")
            await call(app.activate, sim_id)

    started = time.perf_counter()
    await asyncio.gather(*(caller() for _ in range(width)))
    return len(timings) / (time.perf_counter() - started), timings


async def kafka_floor(settings: Settings) -> float:
    """The raw Kafka part of one command in flight, p50 seconds, no fleetstate code: a record's
    produce until a read_committed consumer has it (the command), a transaction shaped as a
    command's (bench/hops.py), and its commit until the outcome is read."""
    hop = await hops.kafka_hop(settings, 20, 5)
    transaction, visible = await hops.kafka_transaction(settings, 200)
    return sum(percentile(times, 50) for times in (hop, transaction, visible))


async def in_flight_levels(base: Settings, client: CommandClient, run: int) -> dict:
    """Per level of calls in flight: both systems' commands/s, p50 and p99; and the raw Kafka
    floor of one command, measured in the same run."""
    results = {"floor": await kafka_floor(fresh_settings(base))}
    schema = f"bench_store_{run}_{int(time.time())}"
    admin = await asyncpg.connect(base.database_url)
    await admin.execute(f'create schema "{schema}"')
    try:
        with sims_on(base.database_url, schema, max(IN_FLIGHT)) as (app, threads):
            for level, width in enumerate(IN_FLIGHT):
                workload = Workload(
                    seed=3000 + run * 10 + level,
                    accounts=(IN_FLIGHT_SIMS + WARM_UP_SIMS) // 4,
                    sims_per_account=4,
                )
                await client.execute_many(workload.operator_commands(), timeout=300)
                setup, chains = sim_chains(workload)
                await client.execute_many(setup, timeout=300)
                warm, measured = chains[:WARM_UP_SIMS], chains[WARM_UP_SIMS:]
                await fleetstate_in_flight(client, warm, width)
                rate, timings, by_step = await fleetstate_in_flight(client, measured, width)
                sims = [(c[0].account_sid, c[0].command.iccid) for c in chains]
                await store_in_flight(app, threads, sims[:WARM_UP_SIMS], width)
                store_rate, store_timings = await store_in_flight(
                    app, threads, sims[WARM_UP_SIMS:], width
                )
                results[width] = {
                    "rate": rate,
                    "p50": percentile(timings, 50),
                    "p99": percentile(timings, 99),
                    "store_rate": store_rate,
                    "store_p50": percentile(store_timings, 50),
                    "store_p99": percentile(store_timings, 99),
                    **{f"{step}_p50": percentile(t, 50) for step, t in by_step.items()},
                    **{f"{step}_p99": percentile(t, 99) for step, t in by_step.items()},
                }
    finally:
        await admin.execute(f'drop schema "{schema}" cascade')
        await admin.close()
    return results


def workload_of(run: int, count: int) -> tuple[list[list], list, list]:
    """The commands of phases 2 and 3 for run `run`: the setup (operator's, then accounts'),
    `count` of the steady mix, and the paced phase's."""
    workload = Workload(seed=1000 + run, accounts=200, sims_per_account=4)
    setup = [workload.operator_commands(), workload.setup_commands()]
    return (
        setup,
        workload.steady_commands(count),
        workload.steady_commands(LATENCY_RATE * LATENCY_SECONDS),
    )


async def one_run(base: Settings, count: int, run: int, logs: Path, phases: set[str]) -> dict:
    settings = fresh_settings(base)
    setup, steady, paced = workload_of(run, count)
    size = int(statistics.median(len(encode_command(c)) for c in steady))
    ceiling = await raw_ceiling(fresh_settings(base), count, size) if "sustained" in phases else 0
    await ensure_topics(settings)
    processor = Processor(settings, logs / f"processor-{run}.log")
    try:
        async with command_client(settings) as client:
            rate, timings, levels = 0.0, [0.0], {}
            if "sustained" in phases:
                rate = await sustained(client, setup, steady)
            if "latency" in phases:
                timings = await latency(client, paced)
            if "in-flight" in phases:
                levels = await in_flight_levels(settings, client, run)
    finally:
        processor.stop()
    return {
        "ceiling": ceiling,
        "rate": rate,
        "p50": percentile(timings, 50),
        "p99": percentile(timings, 99),
        "size": size,
        "levels": levels,
    }


async def traced_or_not(
    base: Settings, run: int, count: int, log_path: Path, on: bool, traced_callers: bool
) -> dict:
    """Phases 2 and 3 on fresh topics, tracing on (the default, no exporter) or off
    (FLEETSTATE_TRACING=off here and in the processor)."""
    settings = msgspec.structs.replace(fresh_settings(base), tracing="on" if on else "off")
    setup, steady, paced = workload_of(run, count)
    traceparent = TRACEPARENT if on and traced_callers else None
    tracing.switch(on)
    await ensure_topics(settings)
    processor = Processor(settings, log_path)
    sender_cpu = time.process_time()
    try:
        async with command_client(settings) as client:
            rate = await sustained(client, setup, steady, traceparent)
            timings = await latency(client, paced, traceparent)
            commands = sum(map(len, setup)) + len(steady) + len(paced)
            cpu = processor.cpu_seconds() / commands  # start-up included, alike in both
            sender_cpu = (time.process_time() - sender_cpu) / commands
    finally:
        processor.stop()
        tracing.switch(True)
    return {"rate": rate, "p50": percentile(timings, 50), "cpu": cpu, "sender_cpu": sender_cpu}


async def tracing_cost(
    base: Settings, count: int, run: int, logs: Path, traced_callers: bool
) -> dict[str, dict]:
    """Both arms of the tracing phase, the first one alternating from run to run."""
    arms = {}
    for on in (True, False) if run % 2 == 0 else (False, True):
        name = "on" if on else "off"
        log_path = logs / f"processor-{run}-tracing-{name}.log"
        arms[name] = await traced_or_not(base, run, count, log_path, on, traced_callers)
    return arms


def print_tracing(runs: list[dict], traced_callers: bool) -> None:
    def arm(name: str, key: str) -> float:
        return statistics.median(r["tracing"][name][key] for r in runs)

    def ratio(key: str) -> float:
        return statistics.median(r["tracing"]["on"][key] / r["tracing"]["off"][key] for r in runs)

    callers = "every command" if traced_callers else "no command"
    print(f"tracing: propagation on, no exporter, {callers} with a traceparent vs off")
    for key, label, scale, unit in (
        ("rate", "throughput", 1, "commands/s"),
        ("p50", f"p50 at {LATENCY_RATE}/s", 1000, "ms"),
        ("cpu", "processor CPU", 1e6, "us/command"),
        ("sender_cpu", "sender CPU", 1e6, "us/command"),
    ):
        print(
            f"  {label:<16}: {arm('on', key) * scale:>9,.1f} vs {arm('off', key) * scale:>9,.1f}"
            f" {unit:<11} on/off {ratio(key):.3f}"
        )
    print("  goal: throughput and CPU within 5% of off (on/off >= 0.95, CPU <= 1.05)")


PHASES = ("sustained", "latency", "in-flight", "tracing")


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--commands", type=int, default=50_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--phases", default=",".join(PHASES), help=f"some of {', '.join(PHASES)}, comma-separated"
    )
    parser.add_argument(
        "--untraced-callers",
        action="store_true",
        help="the tracing phase's default arm with commands that carry no traceparent",
    )
    args = parser.parse_args()
    phases = set(args.phases.split(","))
    if not phases <= set(PHASES):
        parser.error(f"--phases: not a phase: {', '.join(sorted(phases - set(PHASES)))}")
    base = load_settings()
    RESULTS.mkdir(exist_ok=True)
    runs = []
    for run in range(args.runs):
        core = phases - {"tracing"}
        result = await one_run(base, args.commands, run, RESULTS, core) if core else {}
        if "tracing" in phases:
            result["tracing"] = await tracing_cost(
                base, args.commands, run, RESULTS, not args.untraced_callers
            )
        runs.append(result)
        print(f"run {run + 1} done", flush=True)

    def median(key: str) -> float:
        return statistics.median(r[key] for r in runs)

    print(f"\n{base.partitions} partitions, median of {len(runs)} runs")
    if "sustained" in phases:
        ratio = statistics.median(r["rate"] / r["ceiling"] for r in runs)
        print(
            f"sustained   : {median('rate'):>10,.0f} commands/s of {runs[0]['size']} bytes, "
            f"{args.commands:,} per run (raw aiokafka ceiling {median('ceiling'):,.0f} msg/s, "
            f"ratio {ratio:.2f})   goal >= 10,000 and >= 0.30"
        )
    if "latency" in phases:
        print(
            f"at {LATENCY_RATE}/s  : p50 {median('p50') * 1000:.1f} ms, "
            f"p99 {median('p99') * 1000:.1f} ms   goal p99 <= 50 ms"
        )
    if "in-flight" in phases:
        print_levels(runs)
    if "tracing" in phases:
        print_tracing(runs, not args.untraced_callers)


def print_levels(runs: list[dict]) -> None:
    print(
        f"in flight: RegisterSim, AssignSim, ActivateSim for {IN_FLIGHT_SIMS:,} SIMs, each call "
        "waiting for its durable answer; beside pyeventsourcing on the same PostgreSQL"
    )
    goals = {1: "goal p50 <= 5 ms, p99 <= 15 ms", 8: "goal ratio >= 1.0", 128: ""}
    floor = statistics.median(r["levels"]["floor"] for r in runs)
    print(
        f"raw Kafka floor of one command (produce -> consume, a command's transaction, commit "
        f"-> outcome read; p50s added): {floor * 1000:.1f} ms"
    )
    for width in IN_FLIGHT:

        def level(key: str, width: int = width) -> float:
            return statistics.median(r["levels"][width][key] for r in runs)

        ratio = statistics.median(
            r["levels"][width]["rate"] / r["levels"][width]["store_rate"] for r in runs
        )
        print(
            f"{width:>4} in flight: fleetstate {level('rate'):>7,.0f} commands/s, "
            f"p50 {level('p50') * 1000:5.1f} ms, p99 {level('p99') * 1000:5.1f} ms | "
            f"event store {level('store_rate'):>7,.0f} commands/s, "
            f"p50 {level('store_p50') * 1000:5.1f} ms, p99 {level('store_p99') * 1000:5.1f} ms"
            f" | ratio {ratio:.2f}   {goals[width]}"
        )
        steps = ", ".join(
            f"{step} {level(step + '_p50') * 1000:.1f}/{level(step + '_p99') * 1000:.1f}"
            for step in CHAIN_STEPS
        )
        print(f"{'':>18}fleetstate by step, p50/p99 ms: {steps}")


if __name__ == "__main__":
    asyncio.run(deleting_fresh_topics(main()))
