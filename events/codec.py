"""JSON codec for commands, events and outcomes (msgspec).

Events take a fast path: one typed decode of the whole envelope, accepted when the stored
schema_version is the current one for its type. Anything older (or a payload the current
type cannot read) takes the slow path: the payload is decoded to a dict, upcast step by step
through `UPCASTERS`, then converted to the current type.

Every decoding failure raises `InvalidMessage`, the one exception the processor routes to
its dead-letter queue.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec

from events.commands import CommandEnvelope
from events.envelope import EventEnvelope, Outcome
from events.event_types import EVENT_TYPES, SCHEMA_VERSIONS


class InvalidMessage(ValueError):
    """A message that cannot be decoded into a known, valid type."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# --- upcasting --------------------------------------------------------------------------------

Upcaster = Callable[[dict[str, Any]], dict[str, Any]]

# (type, from_version) -> function turning a payload of from_version into from_version + 1.
UPCASTERS: dict[tuple[str, int], Upcaster] = {}


def upcaster(type_name: str, from_version: int) -> Callable[[Upcaster], Upcaster]:
    def register(fn: Upcaster) -> Upcaster:
        UPCASTERS[(type_name, from_version)] = fn
        return fn

    return register


@upcaster("FleetCreated", 1)
def _fleet_created_v1_to_v2(payload: dict[str, Any]) -> dict[str, Any]:
    # v1 followed the founding Fleet document: commands_enabled/url/method.
    # v2 follows Twilio's current API: sms_commands_*. Same meaning, new names.
    payload = dict(payload)
    for suffix in ("enabled", "url", "method"):
        old = f"commands_{suffix}"
        if old in payload:
            payload[f"sms_commands_{suffix}"] = payload.pop(old)
    return payload


def upcast(type_name: str, version: int, payload: dict[str, Any]) -> dict[str, Any]:
    current = SCHEMA_VERSIONS[type_name]
    while version < current:
        step = UPCASTERS.get((type_name, version))
        if step is None:
            raise InvalidMessage(f"no upcaster for {type_name} v{version}")
        payload = step(payload)
        version += 1
    return payload


# --- encoders / decoders (module-level: building them is the expensive part) -------------------

_encoder = msgspec.json.Encoder()
_command_decoder = msgspec.json.Decoder(CommandEnvelope)
_event_decoder = msgspec.json.Decoder(EventEnvelope)
_outcome_decoder = msgspec.json.Decoder(Outcome)
# Payload class -> (type name, current version): what a fast-path event must say it is.
_CURRENT = {cls: (name, SCHEMA_VERSIONS[name]) for name, cls in EVENT_TYPES.items()}


def encode_command(envelope: CommandEnvelope) -> bytes:
    return _encoder.encode(envelope)


def decode_command(data: bytes | str) -> CommandEnvelope:
    try:
        return _command_decoder.decode(data)
    except msgspec.DecodeError as exc:  # ValidationError is a DecodeError
        raise InvalidMessage(f"invalid command: {exc}") from exc


def encode_event(envelope: EventEnvelope) -> bytes:
    return _encoder.encode(envelope)


def decode_event(data: bytes | str) -> EventEnvelope:
    try:
        envelope = _event_decoder.decode(data)
    except msgspec.ValidationError:
        envelope = None  # perhaps an old schema the current type cannot read: try upcasting
    except msgspec.DecodeError as exc:
        raise InvalidMessage(f"invalid event: {exc}") from exc
    if envelope is not None and _CURRENT.get(envelope.payload.__class__) == (
        envelope.type,
        envelope.schema_version,
    ):
        return envelope  # the fast path: current version, payload type agrees with envelope
    return _decode_event_slow(data)


def _decode_event_slow(data: bytes | str) -> EventEnvelope:
    # Rare (old schema versions only), so clarity over speed: dict in, upcast, convert.
    try:
        document = msgspec.json.decode(data)
    except msgspec.DecodeError as exc:
        raise InvalidMessage(f"invalid event: {exc}") from exc
    if not isinstance(document, dict) or not isinstance(document.get("payload"), dict):
        raise InvalidMessage("invalid event: not an envelope object with a payload object")
    type_name, version = document.get("type"), document.get("schema_version")
    if type_name not in EVENT_TYPES:
        raise InvalidMessage(f"unknown event type {type_name!r}")
    current = SCHEMA_VERSIONS[type_name]
    if not isinstance(version, int) or not 1 <= version <= current:
        raise InvalidMessage(
            f"{type_name} schema_version {version!r} is not readable "
            f"(this reader knows 1..{current})"
        )
    if document["payload"].get("type", type_name) != type_name:
        raise InvalidMessage(f"envelope type {type_name!r} differs from its payload's type")
    payload = upcast(type_name, version, document["payload"])
    payload["type"] = type_name
    document["payload"], document["schema_version"] = payload, current
    try:
        return msgspec.convert(document, EventEnvelope)
    except msgspec.ValidationError as exc:
        raise InvalidMessage(f"invalid {type_name} v{version}: {exc}") from exc


def encode_outcome(outcome: Outcome) -> bytes:
    return _encoder.encode(outcome)


def decode_outcome(data: bytes | str) -> Outcome:
    try:
        return _outcome_decoder.decode(data)
    except msgspec.DecodeError as exc:
        raise InvalidMessage(f"invalid outcome: {exc}") from exc
