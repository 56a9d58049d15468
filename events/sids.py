"""Twilio-style SIDs: two letters and 32 lowercase hex digits.

New SIDs are derived from the command that creates the resource, never drawn at random,
so a retried command derives the same SID and cannot create a second resource.
"""

from __future__ import annotations

import re
from hashlib import sha256

ACCOUNT = "AC"
FLEET = "HF"
SIM = "HS"
NETWORK_ACCESS_PROFILE = "HA"
NETWORK = "HW"
SMS_COMMAND = "HC"
IP_COMMAND = "HG"
BILLING_PERIOD = "HB"
SETTINGS_UPDATE = "OB"
ESIM_PROFILE = "HP"
EVENT = "EV"

# The pseudo-account that owns the operator catalogue (Networks) and the SIM-card inventory.
# Operator commands carry it as their account_sid; no tenant can ever authenticate as it.
OPERATOR_ACCOUNT_SID = ACCOUNT + "0" * 32

_HEX32 = re.compile(r"[0-9a-f]{32}")


def derive_sid(prefix: str, command_id: str, salt: str = "") -> str:
    """`prefix` + the first 32 hex digits of sha256 over prefix, salt and command_id.

    The prefix is hashed too so a Fleet and an event derived from the same command never
    share digits; callers salt with the account SID because command ids are only unique
    per sender, and two accounts may well both send "create-fleet-1".
    """
    digest = sha256(f"{prefix}\x1f{salt}\x1f{command_id}".encode()).hexdigest()
    return prefix + digest[:32]


def is_sid(prefix: str, value: object) -> bool:
    """True when `value` is `prefix` followed by exactly 32 lowercase hex digits."""
    return (
        isinstance(value, str)
        and len(value) == 34
        and value.startswith(prefix)
        and _HEX32.fullmatch(value, 2) is not None
    )
