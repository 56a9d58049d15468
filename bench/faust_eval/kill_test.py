"""Does a faust-streaming agent keep at-least-once when its worker is SIGKILLed?

Each run: a fresh 2-partition topic and app id (consumer group), N JSON records produced to it,
the faust worker of bench/faust_eval/worker.py started as a child process, SIGKILLed once about a
third of the ids are in the table (or, in `slow`, once faust committed past a record still in
flight), started again, and watched until every id is in the table, or the group has committed
to the end of both partitions (nothing more will ever be delivered), or the deadline passes.

  lost  ids in the topic that never reached the table
  dup   ids upserted more than once (n > 1); extra = deliveries beyond one per id

Scenarios: kill (concurrency 4), kill-c1 (concurrency 1), two-workers (one of two killed),
slow (one record takes 10 s: faust commits past it; kill before it finishes), error (one record's
first attempt raises; no kill). Needs the dev stack (make stack):

  .venv/bin/python -m bench.faust_eval.kill_test --runs 5
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError

BOOTSTRAP = os.environ.get("FLEETSTATE_KAFKA_BOOTSTRAP", "127.0.0.1:9092")
DSN = os.environ.get(
    "FLEETSTATE_DATABASE_URL", "postgresql://fleetstate:fleetstate@127.0.0.1:5433/fleetstate"
)
LOG_DIR = Path(os.environ.get("FAUST_EVAL_LOG_DIR", "/tmp/faust_eval_logs"))
SCENARIOS = ("kill", "kill-c1", "two-workers", "slow", "error")
SLOW_SECONDS = 10.0


@dataclass
class Run:
    scenario: str
    number: int
    n: int
    concurrency: int
    at_kill: int = -1  # ids in the table when the worker was killed
    lost: list[str] = field(default_factory=list)
    dup: int = 0
    extra: int = 0
    seconds: float = 0.0  # first worker start until the end of the wait
    first_insert: float = 0.0  # worker start until its first row (startup time)
    committed_to_end: bool = False
    lost_where: list[str] = field(default_factory=list)
    outcome: str = ""

    def line(self) -> str:
        kill = f"at_kill={self.at_kill:<5}" if self.at_kill >= 0 else "at_kill=-    "
        lost = f"lost={len(self.lost)}"
        if self.lost:
            lost += f" {self.lost_where}"
        return (
            f"{self.scenario:<11} run {self.number}  c={self.concurrency}  {kill} {lost:<8} "
            f"dup={self.dup:<4} extra={self.extra:<4} "
            f"committed_to_end={self.committed_to_end!s:<5} "
            f"startup={self.first_insert:5.1f}s  time={self.seconds:5.1f}s  {self.outcome}"
        )


class Worker:
    def __init__(self, app_id: str, topic: str, concurrency: int, tag: str, port: int, **extra):
        env = dict(os.environ)
        env.update(
            FAUST_EVAL_APP=app_id,
            FAUST_EVAL_TOPIC=topic,
            FAUST_EVAL_CONCURRENCY=str(concurrency),
            FLEETSTATE_KAFKA_BOOTSTRAP=BOOTSTRAP,
            FLEETSTATE_DATABASE_URL=DSN,
        )
        env.update({k: str(v) for k, v in extra.items()})
        LOG_DIR.mkdir(parents=True, exist_ok=True)
        self.log_path = LOG_DIR / f"{app_id}-{tag}.log"
        self.log = self.log_path.open("w")
        cmd = [sys.executable, "-m", "bench.faust_eval.worker", "worker", "-l", "info"]
        cmd += ["--web-port", str(port)]
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            cmd, env=env, stdout=self.log, stderr=subprocess.STDOUT, cwd=Path.cwd()
        )

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self.log.close()

    async def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.to_thread(self.proc.wait, 30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


async def setup_topic(admin: AIOKafkaAdminClient, topic: str) -> None:
    await admin.create_topics([NewTopic(topic, num_partitions=2, replication_factor=1)])


async def produce(
    topic: str, ids: list[str], mark: dict[str, dict], rate: float
) -> dict[str, tuple[int, int]]:
    """Produces {"id": ...} (plus any mark) round-robin to partitions 0/1 at `rate` records/s,
    so the stream lasts past faust's commits; returns id -> (partition, offset)."""
    producer = AIOKafkaProducer(bootstrap_servers=BOOTSTRAP, acks="all", linger_ms=5)
    await producer.start()
    try:
        futures = []
        batch = max(1, int(rate / 10))
        started = time.monotonic()
        for i, record_id in enumerate(ids):
            value = json.dumps({"id": record_id, **mark.get(record_id, {})}).encode()
            futures.append(
                await producer.send(topic, value, key=record_id.encode(), partition=i % 2)
            )
            if (i + 1) % batch == 0:
                await asyncio.sleep(max(0.0, started + (i + 1) / rate - time.monotonic()))
        metas = await asyncio.gather(*futures)
    finally:
        await producer.stop()
    return {rid: (m.partition, m.offset) for rid, m in zip(ids, metas, strict=True)}


async def committed(admin: AIOKafkaAdminClient, group: str) -> dict[int, int]:
    try:
        offsets = await admin.list_consumer_group_offsets(group)
    except KafkaError:  # no coordinator yet: the group has committed nothing
        return {}
    return {tp.partition: meta.offset for tp, meta in offsets.items()}


async def wait_for(predicate, deadline: float, every: float = 0.05) -> bool:
    while time.monotonic() < deadline:
        if await predicate():
            return True
        await asyncio.sleep(every)
    return False


async def one_run(
    scenario: str, number: int, n: int, deadline_s: float, port: int, rate: float
) -> Run:
    concurrency = 1 if scenario == "kill-c1" else 4
    run = Run(scenario, number, n, concurrency)
    tag = uuid.uuid4().hex[:8]
    topic, app_id = f"faust-eval-{tag}", f"faust-eval-{tag}"
    ids = [f"{tag}-{i:05d}" for i in range(n)]
    # The marked record sits a third of the way into partition 0.
    marked = ids[(n // 3) & ~1]
    mark = {marked: {"mark": scenario}} if scenario in ("slow", "error") else {}
    db = await asyncpg.connect(DSN)
    admin = AIOKafkaAdminClient(bootstrap_servers=BOOTSTRAP)
    await admin.start()
    workers: list[Worker] = []
    try:
        await db.execute("CREATE TABLE IF NOT EXISTS faust_eval (id text primary key, n int)")
        await db.execute("TRUNCATE faust_eval")
        await setup_topic(admin, topic)

        async def count() -> int:
            return await db.fetchval("SELECT count(*) FROM faust_eval")

        extra = {}
        if scenario == "slow":
            extra = dict(FAUST_EVAL_SLOW_ID=marked, FAUST_EVAL_SLOW_SECONDS=SLOW_SECONDS)
        elif scenario == "error":
            extra = dict(FAUST_EVAL_FAIL_ID=marked)
        workers.append(Worker(app_id, topic, concurrency, "a", port, **extra))
        if scenario == "two-workers":
            workers.append(Worker(app_id, topic, concurrency, "b", port + 1))
        start = workers[0].started
        producing = asyncio.create_task(produce(topic, ids, mark, rate))
        deadline = start + deadline_s
        await wait_for(lambda: _gt(count(), 0), deadline)
        run.first_insert = time.monotonic() - start

        if scenario in ("kill", "kill-c1", "two-workers"):
            # A third of the ids in the table, and faust has committed offsets at least once
            # (with faust's 2.8 s commit interval a third of 3000 is in before its first commit).
            async def third_and_committed() -> bool:
                return await count() >= n // 3 and any((await committed(admin, app_id)).values())

            await wait_for(third_and_committed, deadline)
            workers[0].kill()
            run.at_kill = await count()
            c = await committed(admin, app_id)
            run.outcome = f"committed at kill p0={c.get(0)} p1={c.get(1)}"
        elif scenario == "slow":
            # Round-robin into an empty topic: ids[i] lands at partition i % 2, offset i // 2.
            mp, mo = ids.index(marked) % 2, ids.index(marked) // 2

            async def committed_past_marked() -> bool:
                done = await db.fetchval("SELECT 1 FROM faust_eval WHERE id = $1", marked)
                return bool(done) or (await committed(admin, app_id)).get(mp, -1) > mo

            await wait_for(committed_past_marked, deadline, every=0.02)
            in_table = await db.fetchval("SELECT 1 FROM faust_eval WHERE id = $1", marked)
            workers[0].kill()
            run.at_kill = await count()
            c = await committed(admin, app_id)
            run.outcome = (
                f"marked p{mp}@{mo}: committed p{mp}={c.get(mp)} "
                f"{'after it finished' if in_table else 'while it was in flight'}; killed"
            )
        if scenario in ("kill", "kill-c1", "slow"):
            workers.append(Worker(app_id, topic, concurrency, "a2", port))

        where = await producing
        ends = {p: 1 + max(o for q, o in where.values() if q == p) for p in (0, 1)}

        async def finished() -> bool:
            if await count() == n:
                return True
            c = await committed(admin, app_id)
            return all(c.get(p, -1) >= ends[p] for p in (0, 1))

        await wait_for(finished, deadline, every=0.2)
        run.seconds = time.monotonic() - start
        for w in workers:
            if w.proc.poll() is None:
                await w.stop()
        c = await committed(admin, app_id)
        run.committed_to_end = all(c.get(p, -1) >= ends[p] for p in (0, 1))
        rows = dict(await db.fetch("SELECT id, n FROM faust_eval"))
        run.lost = [i for i in ids if i not in rows]
        run.lost_where = [f"p{where[i][0]}@{where[i][1]}" for i in run.lost[:5]]
        run.dup = sum(1 for v in rows.values() if v > 1)
        run.extra = sum(v - 1 for v in rows.values())
        if scenario == "error":
            run.outcome = f"marked p{where[marked][0]}@{where[marked][1]} raised once"
        return run
    finally:
        for w in workers:
            if w.proc.poll() is None:
                await w.stop()
        await admin.close()
        await db.close()


async def _gt(value_coro, threshold: int) -> bool:
    return (await value_coro) > threshold


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="runs of the `kill` scenario")
    parser.add_argument("--extra-runs", type=int, default=2, help="runs of each other scenario")
    parser.add_argument("--n", type=int, default=3000)
    parser.add_argument("--deadline", type=float, default=120.0)
    parser.add_argument("--rate", type=float, default=300.0, help="records produced per second")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS))
    parser.add_argument("--web-port", type=int, default=16066)
    args = parser.parse_args()
    import faust

    print(
        f"faust-streaming {faust.__version__}, N={args.n} at {args.rate:.0f}/s, "
        f"deadline={args.deadline:.0f}s"
    )
    runs: list[Run] = []
    for scenario in args.scenarios.split(","):
        for number in range(1, (args.runs if scenario == "kill" else args.extra_runs) + 1):
            run = await one_run(scenario, number, args.n, args.deadline, args.web_port, args.rate)
            print(run.line(), flush=True)
            runs.append(run)
    losing = [r for r in runs if r.lost]
    print(f"{len(losing)} of {len(runs)} runs lost records; worker logs in {LOG_DIR}")
    return 1 if losing else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
