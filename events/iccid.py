"""The shape of an ICCID, shared by the domain's rules and the network interface's schema."""

from __future__ import annotations

import re

# ITU-T E.118: telecom prefix 89, 18..22 digits. One rule for both sides: the network carries
# ICCIDs exactly as fleetstate registered them, so a message the relay writes always decodes.
ICCID_PATTERN = "^89[0-9]{16,20}$"
_ICCID = re.compile(ICCID_PATTERN.strip("^$"))


def iccid_is_valid(value: str) -> bool:
    return _ICCID.fullmatch(value) is not None
