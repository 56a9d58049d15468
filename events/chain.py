"""The tamper-evidence chain's one rule, shared by the writer (the command processor) and the
checker (services/audit/chain.py): each event's `prev_hash` is the SHA-256, in hex, of the
exact bytes stored as the value of the event before it in its partition."""

from __future__ import annotations

import hashlib

GENESIS_HASH = "0" * 64  # the prev_hash of a partition's first event


def link_hash(stored_value: bytes) -> str:
    """What the next event's prev_hash must be: sha256 of the stored record value."""
    return hashlib.sha256(stored_value).hexdigest()
