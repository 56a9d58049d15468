"""Which events call a URL, which URL, and with what: pure, from the event alone.

The decider put what a webhook needs into the event that calls for it (services/domain/
decide_device.py, decide_sim.py): the URL and method as they were when it happened, so a later
change of settings never redirects a past message. Parameters are the resource's fields in
Twilio's PascalCase, as Twilio sends them.
"""

from __future__ import annotations

from datetime import datetime
from urllib.parse import urlsplit

import msgspec

from events.envelope import EventEnvelope

DEFAULT_PORTS = {"http": 80, "https": 443}


class Job(msgspec.Struct, frozen=True, kw_only=True):
    delivery_id: str  # the event's id: the idempotency token of every attempt
    account_sid: str
    resource_sid: str
    event_type: str
    url: str
    method: str
    params: dict[str, str]
    occurred_at: datetime

    @property
    def host(self) -> str:
        """host:port, the unit the per-host cap counts."""
        parts = urlsplit(self.url)
        port = parts.port or DEFAULT_PORTS.get(parts.scheme, 0)
        return f"{parts.hostname or ''}:{port}"


def job_of(event: EventEnvelope) -> Job | None:
    """The webhook `event` calls for, or None."""
    make = _JOBS.get(event.type)
    if make is None:
        return None
    found = make(event)
    if found is None:
        return None
    url, method, params = found
    return Job(
        delivery_id=event.event_id,
        account_sid=event.account_sid,
        resource_sid=event.aggregate_id,
        event_type=event.type,
        url=url,
        method=method or "POST",
        params={"AccountSid": event.account_sid, **params},
        occurred_at=event.occurred_at,
    )


def token_of(event: EventEnvelope) -> tuple[str | None, int] | None:
    """(sealed auth token, account version) if `event` sets the account's token."""
    if event.type in ("AccountCreated", "AuthTokenChanged"):
        return event.payload.auth_token_sealed, event.aggregate_version
    return None


def _sms_status(e: EventEnvelope):
    p = e.payload
    if p.callback_url is None:
        return None
    params = {"SmsCommandSid": e.aggregate_id, "SimSid": p.sim_sid, "Status": p.to_status}
    return p.callback_url, p.callback_method, {**params, "Direction": "to_sim"}


def _ip_status(e: EventEnvelope):
    p = e.payload
    if p.callback_url is None:
        return None
    params = {"IpCommandSid": e.aggregate_id, "SimSid": p.sim_sid, "Status": p.to_status}
    if p.device_ip is not None:
        params["DeviceIp"] = p.device_ip
    return p.callback_url, p.callback_method, {**params, "Direction": "to_sim"}


def _sms_received(e: EventEnvelope):
    p = e.payload
    if p.webhook_url is None:
        return None
    params = {
        "SmsCommandSid": e.aggregate_id,
        "SimSid": p.sim_sid,
        "Payload": p.payload,
        "Status": "received",
        "Direction": "from_sim",
    }
    return p.webhook_url, p.webhook_method, params


def _ip_received(e: EventEnvelope):
    p = e.payload
    if p.webhook_url is None:
        return None
    params = {
        "IpCommandSid": e.aggregate_id,
        "SimSid": p.sim_sid,
        "SimIccid": p.sim_iccid,
        "Payload": p.payload,
        "PayloadType": p.payload_type,
        "DeviceIp": p.device_ip,
        "DevicePort": str(p.device_port),
        "Status": "received",
        "Direction": "from_sim",
    }
    return p.webhook_url, p.webhook_method, params


def _sim_status(e: EventEnvelope):
    p = e.payload
    if p.callback_url is None:
        return None
    return p.callback_url, p.callback_method, {"SimSid": e.aggregate_id, "Status": p.to_status}


def _esim_available(e: EventEnvelope):
    """Twilio calls an eSIM Profile's CallbackUrl on its change to available alone."""
    p = e.payload
    if p.callback_url is None:
        return None
    params = {
        "EsimProfileSid": e.aggregate_id,
        "Status": "available",
        "Iccid": p.iccid,
        "SimSid": p.sim_sid,
    }
    optional = {
        "SmdpPlusAddress": p.smdp_plus_address,
        "MatchingId": p.matching_id,
        "ActivationCode": p.activation_code,
    }
    params.update({name: value for name, value in optional.items() if value is not None})
    return p.callback_url, p.callback_method, params


_JOBS = {
    "SmsCommandStatusChanged": _sms_status,
    "IpCommandStatusChanged": _ip_status,
    "SmsCommandReceived": _sms_received,
    "IpCommandReceived": _ip_received,
    "SimStatusChanged": _sim_status,
    "EsimProfileAvailable": _esim_available,
}
# Every event type that may call a URL: the intake decodes these and skips the rest.
CALLING_TYPES = frozenset(_JOBS)
