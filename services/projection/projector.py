"""`fleetstate projector`: keeps the read models in PostgreSQL up to date with the event log.

The events' projection on the projection port (runner.py: exactly once, tracking rows in the
batch's transaction, bad records set aside): what is its own is how an event becomes row
changes (changes.py) and how they are written (writer.py).

Each commit also NOTIFYs `fleetstate_projection` with the new positions, so the API can
answer a write once its events are visible (read-your-writes) without polling.
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import chain

import asyncpg
from aiokafka.structs import ConsumerRecord

from events.codec import decode_event
from events.envelope import EventEnvelope
from services.config import Settings
from services.lifecycle import stop_on_signals
from services.projection.changes import Change, LogPosition, changes, coalesce
from services.projection.runner import LogProjection, ProjectionRunner
from services.projection.writer import write_changes
from services.topics import ensure_topics

READ_MODELS = "read_models"
NOTIFY_CHANNEL = "fleetstate_projection"
MAX_BATCH = 5000  # events per transaction


class EventProjection(LogProjection):
    max_batch = MAX_BATCH

    def __init__(
        self,
        topic: str,
        name: str = READ_MODELS,
        project: Callable[[EventEnvelope, LogPosition], list[Change]] = changes,
    ) -> None:
        self.topic = topic
        self.name = name
        self.project = project

    def decode(self, record: ConsumerRecord) -> list[Change]:
        position = LogPosition(record.partition, record.offset)
        return self.project(decode_event(record.value), position)

    async def write(self, conn: asyncpg.Connection, items: dict[int, list[list[Change]]]) -> None:
        # Coalesced per partition, which keeps log order: a Sim that moved has events in two
        # partitions, and one's changes must never fold into the other's.
        for batch in items.values():
            await write_changes(conn, coalesce(chain.from_iterable(batch)))

    async def committed(self, conn: asyncpg.Connection, positions: dict[int, int]) -> None:
        notice = ",".join(f"{self.topic}:{p}:{offset}" for p, offset in positions.items())
        await conn.execute("select pg_notify($1, $2)", NOTIFY_CHANNEL, notice)


class Projector(ProjectionRunner):
    """The events projected into the read models of `schema`."""

    def __init__(
        self,
        settings: Settings,
        name: str = READ_MODELS,
        project: Callable[[EventEnvelope, LogPosition], list[Change]] = changes,
        schema: str = "public",
        shared: bool = False,
    ) -> None:
        projection = EventProjection(settings.events_topic, name, project)
        super().__init__(settings, projection, schema, shared=shared)


async def run_projector(settings: Settings) -> None:
    """The projector service: one of as many instances as run, sharing the partitions."""
    stop = stop_on_signals()
    await ensure_topics(settings)
    await Projector(settings, shared=True).run(stop)
