"""`fleetstate usage-projector`: the usage log -> the usage read models in PostgreSQL.

On the projection port like the events' projection (services/projection/runner.py): each batch
of usage-log records adds its bytes to `usage_hourly` and `sim_usage` and moves its tracking
rows (projection "usage_records") in ONE transaction. The rows only ever grow by additions, so
applying a record twice would count it twice: the tracking row is what makes that impossible.
"""

from __future__ import annotations

from datetime import UTC, datetime

import asyncpg
from aiokafka.structs import ConsumerRecord

from events.usage import UsageFacts, decode_facts
from services.config import Settings
from services.lifecycle import stop_on_signals
from services.projection.runner import LogProjection, ProjectionRunner
from services.topics import ensure_topics
from services.usage import metrics

USAGE_RECORDS = "usage_records"
MAX_BATCH = 2000  # usage-log records per transaction

_ADD_HOURLY = (
    "insert into usage_hourly (account_sid, sim_sid, fleet_sid, network_sid, hour, "
    "data_upload, data_download, data_disabled_bytes) values ($1, $2, $3, $4, $5, $6, $7, $8) "
    "on conflict (sim_sid, hour, network_sid, fleet_key) do update set "
    "data_upload = usage_hourly.data_upload + excluded.data_upload, "
    "data_download = usage_hourly.data_download + excluded.data_download, "
    "data_disabled_bytes = usage_hourly.data_disabled_bytes + excluded.data_disabled_bytes"
)
_ADD_PERIOD = (
    "insert into sim_usage (sim_sid, period_start, period_end, account_sid, data_upload, "
    "data_download, data_disabled_bytes) values ($1, $2, $3, $4, $5, $6, $7) "
    "on conflict (sim_sid, period_start) do update set "
    "data_upload = sim_usage.data_upload + excluded.data_upload, "
    "data_download = sim_usage.data_download + excluded.data_download, "
    "data_disabled_bytes = sim_usage.data_disabled_bytes + excluded.data_disabled_bytes"
)


def _at(epoch: int) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def additions(all_facts: list[UsageFacts]) -> tuple[list[tuple], list[tuple]]:
    """The rows to add to usage_hourly and sim_usage for a batch, summed per row."""
    hourly: dict[tuple, list] = {}
    periods: dict[tuple, list] = {}
    for facts in all_facts:
        for b in facts.buckets:
            disabled = b.bytes_up + b.bytes_down if b.data_disabled else 0
            key = (b.sim_sid, b.hour, b.network_sid, b.fleet_sid)
            row = hourly.setdefault(key, [b.account_sid, 0, 0, 0])
            row[1] += b.bytes_up
            row[2] += b.bytes_down
            row[3] += disabled
            key = (b.sim_sid, b.period_start)
            row = periods.setdefault(key, [b.period_end, b.account_sid, 0, 0, 0])
            row[2] += b.bytes_up
            row[3] += b.bytes_down
            row[4] += disabled
    return (
        [
            (account, sim, fleet, network, _at(hour), up, down, disabled)
            for (sim, hour, network, fleet), (account, up, down, disabled) in hourly.items()
        ],
        [
            (sim, _at(start), _at(end), account, up, down, disabled)
            for (sim, start), (end, account, up, down, disabled) in periods.items()
        ],
    )


class UsageProjection(LogProjection):
    name = USAGE_RECORDS
    max_batch = MAX_BATCH

    def __init__(self, topic: str) -> None:
        self.topic = topic

    def decode(self, record: ConsumerRecord) -> UsageFacts:
        return decode_facts(record.value)

    async def write(self, conn: asyncpg.Connection, items: dict[int, list[UsageFacts]]) -> None:
        hourly, periods = additions([facts for batch in items.values() for facts in batch])
        await conn.executemany(_ADD_HOURLY, hourly)
        await conn.executemany(_ADD_PERIOD, periods)

    def applied(self, count: int) -> None:
        metrics.PROJECTED_RECORDS.inc(count)


class UsageProjector(ProjectionRunner):
    """The usage log projected into the usage read models of `schema`."""

    def __init__(self, settings: Settings, schema: str = "public", shared: bool = False) -> None:
        super().__init__(settings, UsageProjection(settings.usage_log_topic), schema, shared=shared)


async def run_usage_projector(settings: Settings) -> None:
    """The usage projector service: one of as many instances as run, sharing the partitions."""
    stop = stop_on_signals()
    await ensure_topics(settings)
    await UsageProjector(settings, shared=True).run(stop)
