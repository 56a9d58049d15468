"""One webhook attempt against real receivers on 127.0.0.1: what the customer receives, what
is refused, redirects, bounds (body, time, concurrency) and how each result is classified."""

from __future__ import annotations

import asyncio
import socket

import pytest
from aiohttp import web
from twilio.request_validator import RequestValidator

from services.config import load_settings
from services.delivery.sender import (
    BODY_CAP,
    IDEMPOTENCY_HEADER,
    USER_AGENT,
    Outcome,
    Request,
    Sender,
    classify,
)
from services.delivery.target import Policy

TOKEN = "f" * 32
LOOPBACK = Policy.parse("127.0.0.1")
PARAMS = {"SimSid": "HS" + "0" * 32, "Status": "active", "Note": "a b&c=d+é"}


def webhook(url: str, method: str = "POST", params=PARAMS, **options) -> Request:
    options.setdefault("idempotency_token", "delivery-1")
    return Request(method, url, params, auth_token=TOKEN, **options)


@pytest.fixture
async def sender():
    async with Sender(LOOPBACK, timeout=10) as sender:
        yield sender


async def test_a_post_is_signed_so_twilios_validator_accepts_it_at_the_receiver(
    sender, start_receiver
):
    receiver = await start_receiver()
    # By name: the request goes to the address checked, but says the name the customer gave.
    url = receiver.url("/hooks/sims?client=7", host="localhost")
    attempt = await sender.send(webhook(url, headers={"X-Extra": "1", "User-Agent": "theirs"}))

    assert (attempt.outcome, attempt.status, attempt.error, attempt.body) == (
        Outcome.DELIVERED,
        200,
        None,
        b"ok",
    )
    [got] = receiver.received
    assert (got.method, got.url, got.form) == ("POST", url, PARAMS)
    assert got.headers["Host"] == f"localhost:{receiver.port}"
    assert got.headers["User-Agent"] == USER_AGENT
    assert got.headers[IDEMPOTENCY_HEADER] == "delivery-1"
    assert got.headers["X-Extra"] == "1"
    sig = got.headers["X-Twilio-Signature"]
    assert RequestValidator(TOKEN).validate(got.url, got.form, sig)
    assert not RequestValidator("another token").validate(got.url, got.form, sig)


async def test_a_get_carries_its_params_in_the_query_string_and_is_signed_over_it(
    sender, start_receiver
):
    receiver = await start_receiver()
    attempt = await sender.send(webhook(receiver.url("/hook?client=7"), method="GET"))

    assert attempt.delivered, attempt
    [got] = receiver.received
    assert got.method == "GET" and got.form == {}
    assert got.url.startswith(receiver.url("/hook?client=7&SimSid=HS"))
    sig = got.headers["X-Twilio-Signature"]
    assert RequestValidator(TOKEN).validate(got.url, {}, sig)
    assert not RequestValidator("another token").validate(got.url, {}, sig)


async def test_every_attempt_carries_the_same_idempotency_token(sender, start_receiver):
    receiver = await start_receiver()
    answers = iter([500, 200])
    receiver.handler = lambda request: _answer(next(answers))
    request = webhook(receiver.url(), idempotency_token="delivery-42")

    first, second = await sender.send(request), await sender.send(request)

    assert (first.outcome, first.status, first.error) == (
        Outcome.RETRYABLE,
        500,
        "HTTP 500 Internal Server Error",
    )
    assert (second.outcome, second.status) == (Outcome.DELIVERED, 200)
    tokens = [got.headers[IDEMPOTENCY_HEADER] for got in receiver.received]
    assert tokens == ["delivery-42", "delivery-42"]


async def _answer(status: int) -> web.Response:
    return web.Response(status=status, text=f"status {status}")


@pytest.mark.parametrize(
    "status, outcome",
    [
        (200, Outcome.DELIVERED),
        (204, Outcome.DELIVERED),
        (500, Outcome.RETRYABLE),
        (503, Outcome.RETRYABLE),
        (429, Outcome.RETRYABLE),
        (404, Outcome.PERMANENT),
        (400, Outcome.PERMANENT),
        (410, Outcome.PERMANENT),
    ],
)
async def test_statuses_are_classified(sender, start_receiver, status, outcome):
    receiver = await start_receiver()
    receiver.handler = lambda request: _answer(status)
    attempt = await sender.send(webhook(receiver.url()))
    assert (attempt.outcome, attempt.status) == (outcome, status)
    assert classify(status) is outcome
    assert (attempt.error is None) == (outcome is Outcome.DELIVERED)
    assert attempt.latency > 0


async def test_a_refused_connection_is_retryable(sender):
    with socket.socket() as closed:  # bound but not listening: connections are refused
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
        attempt = await sender.send(webhook(f"http://127.0.0.1:{port}/hook"))
    assert (attempt.outcome, attempt.status) == (Outcome.RETRYABLE, None)
    assert "could not connect to 127.0.0.1 (127.0.0.1)" in attempt.error, attempt.error


async def test_a_name_that_does_not_resolve_is_retryable(sender):
    attempt = await sender.send(webhook("http://no-such-host.invalid/hook"))
    assert (attempt.outcome, attempt.status) == (Outcome.RETRYABLE, None)
    assert "could not resolve no-such-host.invalid" in attempt.error, attempt.error


@pytest.mark.parametrize(
    "url, why",
    [
        ("http://10.0.0.1/hook", "webhook address 10.0.0.1 is in a private network"),
        ("http://192.168.1.1/hook", "webhook address 192.168.1.1 is in a private network"),
        ("http://169.254.169.254/latest/meta-data/", "169.254.169.254 is a cloud metadata"),
        ("http://[::1]:9/hook", "webhook address ::1 is a loopback address"),
        ("ftp://example.com/hook", "is not http or https"),
    ],
)
async def test_internal_addresses_are_refused_permanently(url, why):
    async with Sender(timeout=10) as sender:
        attempt = await sender.send(webhook(url))
    assert (attempt.outcome, attempt.status) == (Outcome.PERMANENT, None)
    assert attempt.error.startswith("refused: ") and why in attempt.error, attempt.error


async def test_a_receiver_on_loopback_is_refused_by_name_unless_allowed(start_receiver):
    receiver = await start_receiver()
    url = receiver.url(host="localhost")
    async with Sender(timeout=10) as refusing:
        refused = await refusing.send(webhook(url))
    assert refused.permanent
    assert refused.error == (
        "refused: webhook address 127.0.0.1 (from localhost) is a loopback address; "
        "allow it with FLEETSTATE_WEBHOOK_ALLOW"
    )
    allow = f"127.0.0.1:{receiver.port}"
    async with Sender.from_settings(load_settings({"FLEETSTATE_WEBHOOK_ALLOW": allow})) as allowed:
        assert (await allowed.send(webhook(url))).delivered
    assert len(receiver.received) == 1  # only the allowed one reached it


def redirect(location: str, status: int = 302):
    async def handler(request: web.Request) -> web.Response:
        return web.Response(status=status, headers={"Location": location})

    return handler


async def test_a_redirect_to_a_refused_address_is_a_permanent_failure(start_receiver):
    entry, elsewhere = await start_receiver(), await start_receiver()
    async with Sender(Policy.parse(f"127.0.0.1:{entry.port}"), timeout=10) as sender:
        entry.handler = redirect("http://169.254.169.254/latest/meta-data/")
        metadata = await sender.send(webhook(entry.url()))
        # Another port of the same address: the allow list named one port only.
        entry.handler = redirect(elsewhere.url("/stolen"))
        other_port = await sender.send(webhook(entry.url()))

    assert (metadata.outcome, metadata.status) == (Outcome.PERMANENT, 302)
    assert metadata.error.startswith(
        "redirected to http://169.254.169.254/latest/meta-data/: refused: webhook address "
        "169.254.169.254 is a cloud metadata address"
    ), metadata.error
    assert (other_port.outcome, other_port.status) == (Outcome.PERMANENT, 302)
    assert "is a loopback address" in other_port.error, other_port.error
    assert elsewhere.received == []


async def test_a_redirect_is_followed_with_the_same_headers(sender, start_receiver):
    entry, moved = await start_receiver(), await start_receiver()
    entry.handler = redirect(moved.url("/new?x=1"), status=307)
    attempt = await sender.send(webhook(entry.url("/old")))

    assert (attempt.outcome, attempt.status) == (Outcome.DELIVERED, 200)
    [first], [second] = entry.received, moved.received
    # 307 keeps the method and the body; Twilio does not sign again for the new URL.
    assert (second.method, second.url, second.form) == ("POST", moved.url("/new?x=1"), PARAMS)
    for header in ("X-Twilio-Signature", IDEMPOTENCY_HEADER, "User-Agent"):
        assert second.headers[header] == first.headers[header]
    assert second.headers["Host"] == f"127.0.0.1:{moved.port}"


async def test_a_303_goes_on_as_a_get_and_a_relative_location_is_joined(sender, start_receiver):
    receiver = await start_receiver()

    async def handler(request: web.Request) -> web.Response:
        if request.path == "/start":
            return web.Response(status=303, headers={"Location": "done?ok=1"})
        return web.Response(text="done")

    receiver.handler = handler
    attempt = await sender.send(webhook(receiver.url("/start")))
    assert attempt.delivered and attempt.body == b"done"
    assert [(got.method, got.url) for got in receiver.received] == [
        ("POST", receiver.url("/start")),
        ("GET", receiver.url("/done?ok=1")),
    ]


async def test_more_than_three_redirects_is_a_permanent_failure(sender, start_receiver):
    receiver = await start_receiver()
    receiver.handler = redirect("/again")
    attempt = await sender.send(webhook(receiver.url()))
    assert (attempt.outcome, attempt.status, attempt.error) == (
        Outcome.PERMANENT,
        302,
        "more than 3 redirects",
    )
    assert len(receiver.received) == 4  # the first request and three redirects


async def test_a_body_over_the_cap_is_cut_short_and_the_attempt_still_succeeds(
    sender, start_receiver
):
    receiver = await start_receiver()
    written = 0
    ended = asyncio.Event()

    async def endless(request: web.Request) -> web.StreamResponse:
        nonlocal written
        response = web.StreamResponse()
        await response.prepare(request)
        chunk = b"x" * 65536
        try:
            while True:  # never ends: only a reader that stops lets the attempt finish
                await response.write(chunk)
                written += len(chunk)
        except (ConnectionError, RuntimeError):
            ended.set()  # the sender hung up
            raise

    receiver.handler = endless
    attempt = await sender.send(webhook(receiver.url()))

    assert (attempt.outcome, attempt.status) == (Outcome.DELIVERED, 200)
    assert attempt.body == b"x" * BODY_CAP
    await ended.wait()
    assert written < 64 * 1024 * 1024, written  # what the sockets' buffers took, no more


async def test_a_hanging_receiver_times_out_while_another_host_is_served_promptly(
    start_receiver,
):
    slow, fast = await start_receiver(), await start_receiver()
    slow.handler = slow.hold
    async with Sender(LOOPBACK, timeout=2, per_host=2) as sender:
        # More than the slow host's share: the waiting ones must not hold anyone else up.
        hanging = [asyncio.create_task(sender.send(webhook(slow.url()))) for _ in range(3)]
        await slow.wait_for(lambda receiver: receiver.in_flight >= 2)

        served = await asyncio.gather(*(sender.send(webhook(fast.url())) for _ in range(10)))

        assert all(attempt.delivered for attempt in served), served
        assert len(fast.received) == 10
        assert not any(task.done() for task in hanging)  # still hanging meanwhile
        assert (slow.in_flight, len(slow.received)) == (2, 2)  # the third waits its turn
        timed_out = await asyncio.gather(*hanging)
    slow.release.set()

    for attempt in timed_out:
        assert (attempt.outcome, attempt.status) == (Outcome.RETRYABLE, None), attempt
        assert attempt.error == "timed out after 2 s"
        assert 1.9 <= attempt.latency < 4.0, attempt.latency


async def test_a_body_that_stalls_times_out(start_receiver):
    receiver = await start_receiver()

    async def stalls(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        await response.prepare(request)
        await response.write(b"a start")
        await receiver.release.wait()
        return response

    receiver.handler = stalls
    async with Sender(LOOPBACK, timeout=0.5) as sender:
        attempt = await sender.send(webhook(receiver.url()))
    assert (attempt.outcome, attempt.error) == (Outcome.RETRYABLE, "timed out after 0.5 s")


async def test_no_more_than_the_per_host_cap_are_in_flight_to_one_host(start_receiver):
    held, other = await start_receiver(), await start_receiver()
    held.handler = held.hold
    async with Sender(LOOPBACK, timeout=30, per_host=2) as sender:
        sends = [asyncio.create_task(sender.send(webhook(held.url()))) for _ in range(6)]
        await held.wait_for(lambda receiver: receiver.in_flight >= 2)
        # A whole exchange with another host: the four waiting sends had as long to get through.
        assert (await sender.send(webhook(other.url()))).delivered
        assert (held.in_flight, len(held.received)) == (2, 2)

        held.release.set()
        attempts = await asyncio.gather(*sends)

    assert all(attempt.delivered for attempt in attempts), attempts
    assert (len(held.received), held.most_in_flight) == (6, 2)
