"""Public probes cost nothing per call: 40 concurrent readiness checks open no PostgreSQL
session and no Kafka connection of their own (they ask over what the API already holds)."""

from __future__ import annotations

import asyncio
import os
from urllib.parse import urlsplit

import asyncpg
import httpx

CALLS = 40


def kafka_sockets(pid: int, broker_port: int) -> set[int]:
    """Inodes of the TCP sockets `pid` has open to the broker's port."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue  # closed meanwhile
        if target.startswith("socket:["):
            inodes.add(int(target[8:-1]))
    found = set()
    for table in ("tcp", "tcp6"):
        with open(f"/proc/{pid}/net/{table}") as lines:
            next(lines)
            for line in lines:
                fields = line.split()
                remote_port = int(fields[2].rsplit(":", 1)[1], 16)
                if remote_port == broker_port and int(fields[9]) in inodes:
                    found.add(int(fields[9]))
    return found


async def sessions(conn: asyncpg.Connection, database: str) -> set[int]:
    rows = await conn.fetch(
        "select pid from pg_stat_activity where datname = $1 and pid <> pg_backend_pid()",
        database,
    )
    return {row["pid"] for row in rows}


async def test_forty_concurrent_readiness_checks_open_no_session_and_no_kafka_connection(stack):
    settings = stack.settings
    database = urlsplit(settings.database_url).path.lstrip("/")
    broker_port = int(settings.kafka_bootstrap.rsplit(":", 1)[1])
    watcher = await asyncpg.connect(settings.database_url)
    try:
        async with httpx.AsyncClient(base_url=stack.base_url, timeout=30) as http:
            assert (await http.get("/readyz")).status_code == 200  # the API is up and ready
            before_pg = await sessions(watcher, database)
            before_kafka = kafka_sockets(stack.api_pid, broker_port)
            seen_pg, seen_kafka = set(before_pg), set(before_kafka)
            done = asyncio.Event()

            async def watch() -> None:  # samples while the calls run: a short session counts
                while not done.is_set():
                    seen_pg.update(await sessions(watcher, database))
                    seen_kafka.update(kafka_sockets(stack.api_pid, broker_port))
                    await asyncio.sleep(0.002)

            watching = asyncio.create_task(watch())
            paths = ["/readyz", "/healthz"] * (CALLS // 2)
            answers = await asyncio.gather(*(http.get(path) for path in paths))
            done.set()
            await watching
        assert [a.status_code for a in answers] == [200] * CALLS
        assert all(a.json()["kafka"]["ok"] and a.json()["postgres"]["ok"] for a in answers)
        assert seen_pg == before_pg, f"new sessions: {seen_pg - before_pg}"
        assert seen_kafka == before_kafka, f"new Kafka connections: {seen_kafka - before_kafka}"
        assert await sessions(watcher, database) == before_pg
    finally:
        await watcher.close()


async def test_livez_answers_without_touching_anything(stack):
    async with httpx.AsyncClient(base_url=stack.base_url) as http:
        answer = await http.get("/livez")
    assert answer.status_code == 200 and answer.json() == {"status": "ok"}
