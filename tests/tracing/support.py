"""Helpers for the tracing tests: trace contexts of our own, a traced request, and the
records it left."""

from __future__ import annotations

import secrets

import httpx
from aiokafka.structs import ConsumerRecord

from events.codec import decode_event, decode_outcome
from services.config import Settings
from services.log_reader import read_all
from tests.api.support import create_profile
from tests.tracing.receiver import ReceivedSpan


def new_trace() -> tuple[str, str, str]:
    """(trace id, the caller's span id, its W3C traceparent, sampled)."""
    trace_id, span_id = secrets.token_hex(16), secrets.token_hex(8)
    return trace_id, span_id, f"00-{trace_id}-{span_id}-01"


def traceparent_of(record: ConsumerRecord) -> str | None:
    values = [value.decode() for name, value in record.headers or () if name == "traceparent"]
    assert len(values) <= 1, record.headers
    return values[0] if values else None


async def records_of(bootstrap: str, topic: str) -> list[ConsumerRecord]:
    """Every committed record of `topic`, as it is now."""
    return [r for records in (await read_all(bootstrap, topic)).values() for r in records]


async def records_for(settings: Settings, aggregate_id: str):
    """The events of `aggregate_id` and the outcomes that name them, as committed."""
    events = [
        r
        for r in await records_of(settings.kafka_bootstrap, settings.events_topic)
        if decode_event(r.value).aggregate_id == aggregate_id
    ]
    outcomes = [
        r
        for r in await records_of(settings.kafka_bootstrap, settings.outcomes_topic)
        if any(ref.aggregate_id == aggregate_id for ref in decode_outcome(r.value).events)
    ]
    return events, outcomes


async def create_fleet(stack, traceparent: str):
    """A new account's profile (no trace context), then a Fleet of it created by a POST with
    `traceparent`: the account, the profile as the API gave it, and the Fleet's SID."""
    account = await stack.account()
    auth = (account.sid, account.token)
    async with httpx.AsyncClient(base_url=stack.base_url, auth=auth) as api:
        profile = await create_profile(api)
        response = await api.post(
            "/v1/Fleets",
            data={"NetworkAccessProfile": profile["sid"]},
            headers={"traceparent": traceparent},
        )
    assert response.status_code == 201, response.text
    return account, profile, response.json()["sid"]


def named(spans: list[ReceivedSpan], service: str, name: str) -> list[ReceivedSpan]:
    return [s for s in spans if s.service == service and s.name == name]


def one(spans: list[ReceivedSpan], service: str, name: str) -> ReceivedSpan:
    [span] = named(spans, service, name)
    return span
