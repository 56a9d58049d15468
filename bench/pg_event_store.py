"""The one-writer PostgreSQL event store `make bench-processor` compares the processor with:
pyeventsourcing (the `eventsourcing` package, a bench-only dependency) on the dev stack's
PostgreSQL, deciding the same three commands per SIM (register, assign to a Fleet, activate:
activation refused before assignment) with each call waiting for its durable answer.

Its recorder inserts under a table lock, so its writes are serialised: one writer. Each call
loads the aggregate and commits its event in one PostgreSQL transaction, in a thread of a pool
as wide as the calls in flight (psycopg is blocking), with a connection pool as wide.
"""

from __future__ import annotations

import os
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from urllib.parse import urlparse

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event


class Sim(Aggregate):
    @event("Registered")
    def __init__(self, account_sid: str, iccid: str) -> None:
        self.account_sid = account_sid
        self.iccid = iccid
        self.fleet: str | None = None
        self.status = "new"

    @event("AssignedToFleet")
    def assign(self, fleet: str) -> None:
        self.fleet = fleet

    def activate(self) -> None:
        if self.fleet is None:
            raise ValueError("a Sim is assigned to a Fleet before it is activated")
        self._activated()

    @event("Activated")
    def _activated(self) -> None:
        self.status = "active"


class Sims(Application):
    def register(self, account_sid: str, iccid: str) -> uuid.UUID:
        sim = Sim(account_sid, iccid)
        self.save(sim)
        return sim.id

    def assign(self, sim_id: uuid.UUID, fleet: str) -> None:
        sim: Sim = self.repository.get(sim_id)
        sim.assign(fleet)
        self.save(sim)

    def activate(self, sim_id: uuid.UUID) -> None:
        sim: Sim = self.repository.get(sim_id)
        sim.activate()
        self.save(sim)


@contextmanager
def sims_on(database_url: str, schema: str, pool_size: int):
    """A `Sims` application storing into `schema` (created) of the database at `database_url`,
    and a thread pool of `pool_size` to call it from."""
    url = urlparse(database_url)
    env = {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": url.path.lstrip("/"),
        "POSTGRES_HOST": url.hostname or "127.0.0.1",
        "POSTGRES_PORT": str(url.port or 5432),
        "POSTGRES_USER": url.username or "",
        "POSTGRES_PASSWORD": url.password or "",
        "POSTGRES_SCHEMA": schema,
        "POSTGRES_POOL_SIZE": str(pool_size),
        "POSTGRES_MAX_OVERFLOW": "0",
        "CREATE_TABLE": "y",
    }
    app = Sims(env={**os.environ, **env})
    threads = ThreadPoolExecutor(max_workers=pool_size)
    try:
        yield app, threads
    finally:
        threads.shutdown()
        app.close()
