"""Value rules of the contract. Each validator returns the normalised value or raises Rejected."""

from __future__ import annotations

import re
from hashlib import sha256
from urllib.parse import urlsplit

import msgspec
from msgspec import UNSET

from events.iccid import iccid_is_valid as iccid_is_valid  # the network interface's rule too
from events.sids import is_sid
from services.domain.rejections import invalid

MAX_UNIQUE_NAME = 64
_json_encode = msgspec.json.Encoder().encode
DATA_LIMIT_MIN, DATA_LIMIT_MAX, DATA_LIMIT_DEFAULT = 1, 2_000_000, 1000
METHODS = ("GET", "POST")
DEFAULT_METHOD = "POST"
DATA_METERING = "payg"
MAX_URL = 2048

# Data volumes. Decision: SI units, as carriers bill: 1 KB = 1,000 bytes, 1 MB = 1,000,000.
BYTES_PER_MB = 1_000_000
ACTIVATION_BYTES = 250_000  # Sim rule 4: `ready` becomes `active` after 250 KB in total
DATA_USAGE = "data_usage"  # SimStatusChanged.reason of that activation

SIM_STATUSES = ("new", "ready", "active", "inactive", "scheduled")
# What an update may ask for (Twilio's contract); nothing returns to `new`.
REQUESTABLE_STATUSES = ("ready", "active", "inactive")
NEEDS_FLEET = ("ready", "active")
# Allowed status transitions; setting the current status again is a no-op, not a transition.
TRANSITIONS: dict[str, frozenset[str]] = {
    "new": frozenset({"ready", "active", "inactive"}),
    "ready": frozenset({"active", "inactive"}),
    "active": frozenset({"inactive"}),
    "inactive": frozenset({"active"}),
    "scheduled": frozenset(),
}

_REGISTRATION_CODE = re.compile(r"[A-Za-z0-9]{10}")
_ISO_COUNTRY = re.compile(r"[A-Z]{2}")
_MCC = re.compile(r"[0-9]{3}")
_MNC = re.compile(r"[0-9]{2,3}")


def field_with_nul(value: object) -> str | None:
    """The first text in a command (its fields, lists and nested structs) holding a NUL
    character, by name; None if there is none. NUL is never meaningful in a name, a URL or an
    id, and PostgreSQL text cannot store it: a read model would refuse the event.

    Every command is checked, so the common case is one JSON encoding (fast, in C) searched
    for the escape JSON writes a NUL as; only a hit walks the fields to name the culprit."""
    if b"\\u0000" not in _json_encode(value):
        return None
    return _field_with_nul(value, "")


def _field_with_nul(value: object, path: str) -> str | None:
    if isinstance(value, str):
        return path if "\x00" in value else None
    if isinstance(value, list | tuple):
        for item in value:
            found = _field_with_nul(item, path)
            if found:
                return found
        return None
    for field in getattr(value, "__struct_fields__", ()):
        found = _field_with_nul(getattr(value, field), f"{path}.{field}" if path else field)
        if found:
            return found
    return None


def unique_name(value: str | None, sid_prefix: str, parameter: str = "UniqueName") -> str | None:
    """A unique name: 1..64 characters, not shaped like a SID of its own resource type
    (so `{Sid}` in a path is never ambiguous). None clears the name."""
    if value is None:
        return None
    if not value or len(value) > MAX_UNIQUE_NAME:
        raise invalid(f"{parameter} must be 1 to {MAX_UNIQUE_NAME} characters long")
    if value.strip() != value or any(c in value for c in "\r\n\t/"):
        raise invalid(f"{parameter} may not contain '/', control characters or edge spaces")
    if is_sid(sid_prefix, value):
        raise invalid(f"{parameter} may not have the shape of a {sid_prefix} SID")
    return value


def url(value: str | None, parameter: str) -> str | None:
    """An absolute http(s) URL with a host; None clears it."""
    if value is None:
        return None
    if len(value) > MAX_URL or any(c.isspace() for c in value):
        raise invalid(f"{parameter} must be an absolute http(s) URL")
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError as exc:
        raise invalid(f"{parameter} must be an absolute http(s) URL") from exc
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise invalid(f"{parameter} must be an absolute http(s) URL")
    return value


def method(value: str, parameter: str) -> str:
    """GET or POST, case-insensitive on input, upper-case when stored."""
    normalised = value.upper()
    if normalised not in METHODS:
        raise invalid(f"{parameter} must be GET or POST")
    return normalised


def data_limit(value: int) -> int:
    if isinstance(value, bool) or not DATA_LIMIT_MIN <= value <= DATA_LIMIT_MAX:
        raise invalid(f"DataLimit must be between {DATA_LIMIT_MIN} and {DATA_LIMIT_MAX:,} MB")
    return value


def over_data_limit(data_used: int, data_limit_mb: int) -> bool:
    """The limit is what a Sim may use: passing it, not reaching it, suspends data."""
    return data_used > data_limit_mb * BYTES_PER_MB


def sim_status(value: str) -> str:
    if value not in REQUESTABLE_STATUSES:
        raise invalid("Status must be one of ready, active, inactive")
    return value


def registration_code_is_valid(value: str) -> bool:
    return _REGISTRATION_CODE.fullmatch(value) is not None


def registration_code_hash(iccid: str, code: str) -> str:
    # Salted by the ICCID so equal codes on two cards hash differently.
    return sha256(f"{iccid}:{code}".encode()).hexdigest()


def iso_country(value: str) -> str:
    if _ISO_COUNTRY.fullmatch(value) is None:
        raise invalid("IsoCountry must be an ISO 3166-1 alpha-2 code such as 'US'")
    return value


def network_identifier(mcc: str, mnc: str) -> tuple[str, str]:
    if _MCC.fullmatch(mcc) is None or _MNC.fullmatch(mnc) is None:
        raise invalid("Identifiers need a 3-digit mcc and a 2- or 3-digit mnc")
    return mcc, mnc


def friendly_name(value: str, parameter: str = "FriendlyName") -> str:
    if not value or len(value) > MAX_UNIQUE_NAME:
        raise invalid(f"{parameter} must be 1 to {MAX_UNIQUE_NAME} characters long")
    return value


def one_of_two_spellings(first, second, names: str):
    """The same Fleet field given under both spellings must agree (after normalisation
    by the caller); returns the value given, or UNSET."""
    if first is UNSET:
        return second
    if second is not UNSET and second != first:
        raise invalid(f"{names} are the same field and were given different values")
    return first
