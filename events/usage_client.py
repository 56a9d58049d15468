"""UsageReporter: how network-side services publish data session reports.

    async with UsageReporter("127.0.0.1:9092") as reporter:
        await reporter.report(DataSessionReport(...))

Reports go to the usage topic keyed by account_sid through an idempotent producer that waits for
every in-sync replica. Sending a report again (a retry after a timeout) is safe: the usage
processor counts each session id of a SIM once per billing period.

A report carries its sender's W3C trace context in its headers (events.tracing): the current
OpenTelemetry context, or a `traceparent` given by hand, so the usage processor's work on it
joins that trace.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from aiokafka import AIOKafkaProducer

from events import tracing
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

    async def report(self, report: DataSessionReport, *, traceparent: str | None = None) -> None:
        """Publishes one report and waits for the broker to store it."""
        await self.report_many([report], traceparent=traceparent)

    async def report_many(
        self, reports: Iterable[DataSessionReport], *, traceparent: str | None = None
    ) -> None:
        """Publishes many reports in as few broker requests as the producer can batch them."""
        parent = None if traceparent is None else tracing.Parent(traceparent)
        acks = [await self._enqueue(report, parent) for report in reports]
        await asyncio.gather(*acks)

    async def _enqueue(
        self, report: DataSessionReport, parent: tracing.Parent | None = None
    ) -> asyncio.Future:
        topic, key = self.usage_topic, report.account_sid.encode()
        if not tracing.propagating():
            return await self._producer.send(topic, encode_report(report), key=key)
        if not tracing.spans_possible():  # the caller's trace context goes on as it is
            headers = tracing.outgoing(parent) or None
            return await self._producer.send(topic, encode_report(report), key=key, headers=headers)
        context = None if parent is None else parent.context
        span = tracing.send_span(topic, key, lambda: {"fleetstate.sim": report.sim}, context)
        headers = tracing.span_headers(span, context)
        ack = await self._producer.send(topic, encode_report(report), key=key, headers=headers)
        tracing.end_on_ack(span, ack)
        return ack
