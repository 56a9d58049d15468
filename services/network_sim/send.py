"""Device-originated messages, sent as the network would: `fleetstate network-sim send`."""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, datetime

from aiokafka import AIOKafkaProducer

from events.kafka_security import kafka_options
from events.network import (
    FromNetwork,
    IpFromDevice,
    SmsFromDevice,
    decode_from_network,
    encode,
    key_of,
)
from services.config import Settings
from services.network_sim.answers import device_ip, esim_report


def new_message_id() -> str:
    """The network's id of a message from a device: unique, drawn at random."""
    return "NM" + uuid.uuid4().hex


def sms_from_device(iccid: str, payload: str) -> SmsFromDevice:
    return _checked(
        SmsFromDevice(
            message_id=new_message_id(), iccid=iccid, payload=payload, sent_at=datetime.now(UTC)
        )
    )


def ip_from_device(
    iccid: str, payload: str, *, device_port: int, binary: bool = False, ip: str | None = None
) -> IpFromDevice:
    """`payload` is text (sent as its UTF-8 bytes) or, with `binary`, already base64. The
    device's address defaults to the one the simulator gives the ICCID in its receipts."""
    data = payload if binary else base64.b64encode(payload.encode()).decode()
    return _checked(
        IpFromDevice(
            message_id=new_message_id(),
            iccid=iccid,
            device_ip=ip or device_ip(iccid),
            device_port=device_port,
            payload=data,
            sent_at=datetime.now(UTC),
        )
    )


def esim_profile_report(
    account_sid: str,
    profile_sid: str,
    status: str,
    error_code: str | None = None,
    error_message: str | None = None,
):
    """The SM-DP+'s report that a profile was downloaded, installed or failed (with its
    error), as the simulator would send it."""
    errors = {"error_code": error_code, "error_message": error_message}
    report = esim_report(account_sid, profile_sid, status, datetime.now(UTC), **errors)
    return _checked(report)


def _checked(message: FromNetwork) -> FromNetwork:
    # A constructed Struct is not validated: decode what would be sent, so a bad ICCID, port
    # or base64 is refused here with its reason instead of dead-lettered by the ingress.
    return decode_from_network(encode(message))


async def send(settings: Settings, message: FromNetwork) -> None:
    """Produces `message` on network_in, keyed by its ICCID (or profile), and waits for the
    broker."""
    producer = AIOKafkaProducer(
        **kafka_options(settings.kafka_bootstrap), acks="all", enable_idempotence=True
    )
    await producer.start()
    try:
        await producer.send_and_wait(
            settings.network_in_topic, encode(message), key=key_of(message)
        )
    finally:
        await producer.stop()
