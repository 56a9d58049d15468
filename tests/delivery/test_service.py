"""The delivery service as it runs (`fleetstate delivery`, a child process) on the real broker
and database, calling real HTTP receivers on 127.0.0.1: signed as Twilio signs, every webhook
delivered although the receiver was down a while, nothing lost when the service is SIGKILLed
(a repeat carries the same idempotency token), a hanging receiver stalling no one else, and
refused addresses recorded with their reason."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from itertools import count

import asyncpg
import msgspec
import pytest
from aiohttp import web
from aiokafka import AIOKafkaProducer
from twilio.request_validator import RequestValidator

from events import event_types as ev
from events.codec import encode_event
from events.envelope import EventEnvelope
from events.event_types import EVENT_TYPES, SCHEMA_VERSIONS
from events.kafka_security import kafka_options
from events.sids import derive_sid
from services.config import environment_of
from services.delivery.sealing import TokenSeal, generate_key
from services.migrate import migrate
from tests.audit.support import fleetstate
from tests.services import ServiceProcess

TOKEN = "0123456789abcdef0123456789abcdef"
ACCOUNT = derive_sid("AC", "delivery-tests")
SIM = derive_sid("HS", "delivery-tests")
WAIT = 90.0
_ids = count(1)


@pytest.fixture
async def delivery_settings(topics, database_url):
    await migrate(database_url)
    key = generate_key()
    return msgspec.structs.replace(
        topics,
        database_url=database_url,
        token_keys=key,
        webhook_allow="127.0.0.1",
        webhook_timeout_seconds=2.0,
        webhook_retry_base_seconds=0.2,
        webhook_retry_cap_seconds=1.0,
        webhook_per_host=2,
    )


@pytest.fixture
def delivery(delivery_settings, tmp_path):
    process = ServiceProcess("delivery", delivery_settings, log_path=tmp_path / "delivery.log")
    process.start()
    yield process
    process.stop()


def envelope(payload, aggregate_type: str, aggregate_id: str, version: int) -> EventEnvelope:
    n = next(_ids)
    name = type(payload).__name__
    return EventEnvelope(
        event_id=derive_sid("EV", f"delivery-test-{n}"),
        type=name,
        schema_version=SCHEMA_VERSIONS[name],
        account_sid=ACCOUNT,
        aggregate_type=aggregate_type,
        aggregate_id=aggregate_id,
        aggregate_version=version,
        occurred_at=datetime.now(UTC),
        command_id=f"c{n}",
        correlation_id=None,
        actor="test",
        payload=payload,
    )


def account_created(settings) -> EventEnvelope:
    sealed = TokenSeal.from_keys([settings.token_keys]).seal(TOKEN)
    created = ev.AccountCreated(
        friendly_name="A", auth_token_hash="0" * 64, auth_token_sealed=sealed
    )
    return envelope(created, "Account", ACCOUNT, 1)


def sms_sent(url: str, method: str = "POST") -> EventEnvelope:
    sid = derive_sid("HC", f"delivery-test-{next(_ids)}")
    changed = ev.SmsCommandStatusChanged(
        sim_sid=SIM,
        from_status="queued",
        to_status="sent",
        reason=None,
        callback_url=url,
        callback_method=method,
    )
    return envelope(changed, "SmsCommand", sid, 2)


async def publish(settings, events: list[EventEnvelope]) -> None:
    """As the processor appends them: keyed by account, with the type header."""
    producer = AIOKafkaProducer(**kafka_options(settings.kafka_bootstrap), acks="all")
    await producer.start()
    try:
        for e in events:
            await producer.send_and_wait(
                settings.events_topic,
                encode_event(e),
                key=e.account_sid.encode(),
                headers=[("type", e.type.encode())],
            )
    finally:
        await producer.stop()


async def deliveries(settings) -> dict[str, dict]:
    conn = await asyncpg.connect(settings.database_url)
    try:
        rows = await conn.fetch("select * from webhook_deliveries")
        attempts = await conn.fetch("select * from webhook_attempts order by attempt")
    finally:
        await conn.close()
    out = {r["delivery_id"]: {**dict(r), "tries": []} for r in rows}
    for a in attempts:
        out[a["delivery_id"]]["tries"].append(dict(a))
    return out


async def settled(settings, ids: set[str], timeout: float = WAIT) -> dict[str, dict]:
    """The deliveries once each of `ids` is no longer pending (polled with a deadline)."""
    deadline = time.monotonic() + timeout
    while True:
        found = await deliveries(settings)
        if all(i in found and found[i]["status"] != "pending" for i in ids):
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"not settled after {timeout}s: {found}")
        await asyncio.sleep(0.1)


async def test_a_webhook_is_signed_as_twilio_signs_and_carries_the_resource(
    delivery_settings, delivery, start_receiver
):
    receiver = await start_receiver()
    posted, got = sms_sent(receiver.url("/status")), sms_sent(receiver.url("/get?x=1"), "GET")
    await publish(delivery_settings, [account_created(delivery_settings), posted, got])
    await asyncio.wait_for(receiver.wait_for(lambda r: len(r.received) == 2), WAIT)
    validator = RequestValidator(TOKEN)
    for request in receiver.received:
        signature = request.headers["X-Twilio-Signature"]
        assert validator.validate(request.url, request.form, signature), request
    by_method = {r.method: r for r in receiver.received}
    assert by_method["POST"].form == {
        "AccountSid": ACCOUNT,
        "SmsCommandSid": posted.aggregate_id,
        "SimSid": SIM,
        "Status": "sent",
        "Direction": "to_sim",
    }
    assert f"SmsCommandSid={got.aggregate_id}" in by_method["GET"].url
    tokens = {r.headers["I-Twilio-Idempotency-Token"] for r in receiver.received}
    assert tokens == {posted.event_id, got.event_id}
    found = await settled(delivery_settings, tokens)
    assert {found[t]["status"] for t in tokens} == {"delivered"}


async def test_a_receiver_down_for_a_while_gets_every_webhook_when_back(
    delivery_settings, delivery, start_receiver
):
    up = asyncio.Event()

    async def down_until_up(request: web.Request) -> web.StreamResponse:
        return web.Response(text="ok") if up.is_set() else web.Response(status=503)

    receiver = await start_receiver()
    receiver.handler = down_until_up
    events = [sms_sent(receiver.url()) for _ in range(20)]
    await publish(delivery_settings, [account_created(delivery_settings), *events])
    # Every delivery has failed at least once before the receiver comes back.
    await asyncio.wait_for(receiver.wait_for(lambda r: len(r.received) >= 40), WAIT)
    up.set()
    ids = {e.event_id for e in events}
    found = await settled(delivery_settings, ids)
    assert {found[i]["status"] for i in ids} == {"delivered"}
    assert all(found[i]["tries"][-1]["status_code"] == 200 for i in ids)
    assert any(t["status_code"] == 503 for i in ids for t in found[i]["tries"])
    # Every attempt of one delivery carried its one token.
    for request in receiver.received:
        assert request.headers["I-Twilio-Idempotency-Token"] in ids
    # The audit's delivery log shows one command's attempts: the failures, then the success.
    first = events[0]
    code, output = await fleetstate(
        delivery_settings, "deliveries", "--account", ACCOUNT, "--resource",
        first.aggregate_id, "--json",
    )  # fmt: skip
    assert code == 0, output
    (logged,) = msgspec.json.decode(output)
    assert (logged["delivery_id"], logged["status"]) == (first.event_id, "delivered")
    outcomes = [a["outcome"] for a in logged["attempts"]]
    assert outcomes[-1] == "delivered" and set(outcomes[:-1]) == {"retryable"}
    assert [a["status_code"] for a in logged["attempts"]][:-1] == [503] * (len(outcomes) - 1)


async def test_a_killed_delivery_service_loses_nothing_and_repeats_only_with_the_same_token(
    delivery_settings, delivery, start_receiver
):
    receiver = await start_receiver()
    events = [sms_sent(receiver.url()) for _ in range(150)]
    await publish(delivery_settings, [account_created(delivery_settings), *events[:75]])
    await asyncio.wait_for(receiver.wait_for(lambda r: len(r.received) >= 20), WAIT)
    delivery.kill()  # SIGKILL mid-stream: claims it held come due again when their lease ends
    await publish(delivery_settings, events[75:])
    delivery.start()
    ids = {e.event_id for e in events}
    await settled(delivery_settings, ids, timeout=180)
    seen = [r.headers["I-Twilio-Idempotency-Token"] for r in receiver.received]
    assert set(seen) == ids  # every one arrived; a repeat is the same delivery's token


async def test_a_hanging_receiver_does_not_stall_the_others(
    delivery_settings, delivery, start_receiver
):
    hanging, healthy = await start_receiver(), await start_receiver()
    hanging.handler = hanging.hold  # answers only when released: each attempt times out
    stuck = [sms_sent(hanging.url()) for _ in range(10)]
    fine = [sms_sent(healthy.url()) for _ in range(30)]
    await publish(delivery_settings, [account_created(delivery_settings), *stuck, *fine])
    # All 30 arrive while the hanging receiver still holds its first requests.
    await asyncio.wait_for(healthy.wait_for(lambda r: len(r.received) == 30), WAIT)
    assert hanging.in_flight > 0 and not hanging.release.is_set()
    assert hanging.most_in_flight <= 2  # its cap per host: the rest waited in the table
    hanging.release.set()


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("http://10.0.0.1/hook", "private"),
        ("http://169.254.169.254/latest/meta-data", "metadata"),
        ("http://localhost:1/hook", "loopback"),
    ],
)
async def test_refused_addresses_are_recorded_with_the_reason(
    delivery_settings, start_receiver, tmp_path, url, says
):
    # Allow nothing: even 127.0.0.1 (what "localhost" resolves to) is refused.
    settings = msgspec.structs.replace(delivery_settings, webhook_allow="")
    process = ServiceProcess("delivery", settings, log_path=tmp_path / "delivery.log")
    process.start()
    try:
        event = sms_sent(url)
        await publish(settings, [account_created(settings), event])
        found = await settled(settings, {event.event_id})
    finally:
        process.stop()
    delivery = found[event.event_id]
    assert delivery["status"] == "failed" and delivery["attempts"] == 1
    assert says in delivery["last_error"] and "FLEETSTATE_WEBHOOK_ALLOW" in delivery["last_error"]


async def test_rotating_the_token_key_keeps_every_webhook_signable(
    delivery_settings, delivery, start_receiver
):
    receiver = await start_receiver()
    first = sms_sent(receiver.url())
    await publish(delivery_settings, [account_created(delivery_settings), first])
    await settled(delivery_settings, {first.event_id})
    delivery.stop()
    old, new = delivery_settings.token_keys, generate_key()
    # A new key first, the old one kept: reseal, then the old key can go.
    rotating = msgspec.structs.replace(delivery_settings, token_keys=f"{new},{old}")
    code, output = await fleetstate(rotating, "delivery-reseal")
    assert code == 0 and "resealed 1 " in output, output
    rotated = msgspec.structs.replace(delivery_settings, token_keys=new)
    delivery.env = environment_of(rotated)
    delivery.start()
    second = sms_sent(receiver.url())
    await publish(rotated, [second])
    found = await settled(rotated, {second.event_id})
    assert found[second.event_id]["status"] == "delivered"
    validator = RequestValidator(TOKEN)
    assert all(
        validator.validate(r.url, r.form, r.headers["X-Twilio-Signature"])
        for r in receiver.received
    )


def test_every_event_type_that_calls_a_url_is_one_the_log_has():
    from services.delivery.jobs import _JOBS

    assert set(_JOBS) <= set(EVENT_TYPES)
