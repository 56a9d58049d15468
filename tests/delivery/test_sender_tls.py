"""https: the sender connects to the address it checked, yet TLS is the customer's name's: it
is sent as the server name, and the certificate must be for it (not for the address)."""

from __future__ import annotations

import ipaddress

from cryptography import x509
from twilio.request_validator import RequestValidator

from services.delivery.sender import Outcome, Request, Sender
from services.delivery.target import Policy
from tests.delivery.tls import contexts

TOKEN = "t" * 32
PARAMS = {"SimSid": "HS" + "1" * 32}


def webhook(url: str) -> Request:
    return Request("POST", url, PARAMS, auth_token=TOKEN, idempotency_token="once")


async def test_the_certificate_is_verified_for_the_name_in_the_url(tmp_path, start_receiver):
    server, client = contexts(tmp_path, [x509.DNSName("localhost")])  # no address in it
    receiver = await start_receiver(ssl_context=server)
    url = receiver.url("/hook", host="localhost")
    async with Sender(Policy.parse("127.0.0.1"), timeout=10, verify=client) as sender:
        attempt = await sender.send(webhook(url))

    assert (attempt.outcome, attempt.status) == (Outcome.DELIVERED, 200), attempt
    [got] = receiver.received
    assert got.url == url
    assert RequestValidator(TOKEN).validate(got.url, got.form, got.headers["X-Twilio-Signature"])


async def test_a_certificate_for_the_address_alone_does_not_pass_for_the_name(
    tmp_path, start_receiver
):
    address = x509.IPAddress(ipaddress.ip_address("127.0.0.1"))
    server, client = contexts(tmp_path, [address])
    receiver = await start_receiver(ssl_context=server)
    async with Sender(Policy.parse("127.0.0.1"), timeout=10, verify=client) as sender:
        by_name = await sender.send(webhook(receiver.url("/hook", host="localhost")))
        by_address = await sender.send(webhook(receiver.url("/hook")))

    assert (by_name.outcome, by_name.status) == (Outcome.RETRYABLE, None)
    assert "CERTIFICATE_VERIFY_FAILED" in by_name.error, by_name.error
    assert by_address.delivered, by_address
    assert len(receiver.received) == 1
