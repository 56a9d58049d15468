"""The faust-streaming worker the kill test runs as a child process.

One agent over one 2-partition topic of JSON records {"id": ...}: per record a random 0-5 ms
sleep (HTTP-like latency, so records finish out of order) and an upsert that counts deliveries
(`n` > 1 is a duplicate). faust's default processing guarantee (at-least-once) throughout.

Configured by the environment (kill_test sets it):
  FAUST_EVAL_APP, FAUST_EVAL_TOPIC     the app id (= consumer group) and the source topic
  FAUST_EVAL_CONCURRENCY               the agent's concurrency (default 4)
  FAUST_EVAL_SESSION_TIMEOUT           broker_session_timeout in s (default 10; faust's is 60)
  FAUST_EVAL_SLOW_ID, _SLOW_SECONDS    one record that takes that long (a stalled insert)
  FAUST_EVAL_FAIL_ID                   one record whose first attempt raises (a transient error)

Run: python -m bench.faust_eval.worker worker -l info --web-port PORT
"""

from __future__ import annotations

import asyncio
import os
import random

import asyncpg
import faust

BOOTSTRAP = os.environ.get("FLEETSTATE_KAFKA_BOOTSTRAP", "127.0.0.1:9092")
DSN = os.environ.get(
    "FLEETSTATE_DATABASE_URL", "postgresql://fleetstate:fleetstate@127.0.0.1:5433/fleetstate"
)
APP_ID = os.environ.get("FAUST_EVAL_APP", "faust-eval")
TOPIC = os.environ.get("FAUST_EVAL_TOPIC", "faust-eval")
CONCURRENCY = int(os.environ.get("FAUST_EVAL_CONCURRENCY", "4"))
SLOW_ID = os.environ.get("FAUST_EVAL_SLOW_ID")
SLOW_SECONDS = float(os.environ.get("FAUST_EVAL_SLOW_SECONDS", "0"))
FAIL_ID = os.environ.get("FAUST_EVAL_FAIL_ID")

UPSERT = (
    "INSERT INTO faust_eval (id, n) VALUES ($1, 1) "
    "ON CONFLICT (id) DO UPDATE SET n = faust_eval.n + 1"
)

app = faust.App(
    APP_ID,
    broker=f"kafka://{BOOTSTRAP}",
    store="memory://",
    topic_partitions=2,
    broker_session_timeout=float(os.environ.get("FAUST_EVAL_SESSION_TIMEOUT", "10")),
)
topic = app.topic(TOPIC, partitions=2, value_serializer="json")

_pool: asyncpg.Pool | None = None
_pool_lock = asyncio.Lock()
_failed: set[str] = set()


async def pool() -> asyncpg.Pool:
    global _pool
    async with _pool_lock:
        if _pool is None:
            _pool = await asyncpg.create_pool(DSN, min_size=1, max_size=CONCURRENCY)
        return _pool


@app.agent(topic, concurrency=CONCURRENCY)
async def record(stream):
    db = await pool()
    async for value in stream:
        record_id = value["id"]
        await asyncio.sleep(random.uniform(0, 0.005))
        if record_id == SLOW_ID:
            await asyncio.sleep(SLOW_SECONDS)
        if record_id == FAIL_ID and record_id not in _failed:
            _failed.add(record_id)
            raise RuntimeError(f"simulated transient error on {record_id}")
        await db.execute(UPSERT, record_id)


if __name__ == "__main__":
    app.main()
