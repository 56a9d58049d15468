"""UsageReporter: how network-side services publish data session reports.

    async with UsageReporter("127.0.0.1:9092") as reporter:
        await reporter.report(DataSessionReport(...))

Reports go to the usage topic keyed by account_sid through an idempotent producer that waits for
every in-sync replica. Sending a report again (a retry after a timeout) is safe: the usage
processor counts each session id of a SIM once per billing period.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from aiokafka import AIOKafkaProducer

from events.kafka_security import KafkaSecurity, kafka_options
from events.usage import DataSessionReport, encode_report


class UsageReporter:
    def __init__(
        self,
        bootstrap_servers: str,
        *,
        usage_topic: str = "fleetstate.usage",
        linger_ms: int = 5,
        security: KafkaSecurity | None = None,
    ) -> None:
        self.usage_topic = usage_topic
        self._producer = AIOKafkaProducer(
            **kafka_options(bootstrap_servers, security),
            acks="all",
            enable_idempotence=True,
            linger_ms=linger_ms,
        )

    async def start(self) -> None:
        await self._producer.start()

    async def stop(self) -> None:
        await self._producer.stop()

    async def __aenter__(self) -> UsageReporter:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def report(self, report: DataSessionReport) -> None:
        """Publishes one report and waits for the broker to store it."""
        await (await self._enqueue(report))

    async def report_many(self, reports: Iterable[DataSessionReport]) -> None:
        """Publishes many reports in as few broker requests as the producer can batch them."""
        acks = [await self._enqueue(report) for report in reports]
        await asyncio.gather(*acks)

    async def _enqueue(self, report: DataSessionReport) -> asyncio.Future:
        return await self._producer.send(
            self.usage_topic, encode_report(report), key=report.account_sid.encode()
        )
