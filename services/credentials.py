"""Account credentials: random SIDs and auth tokens, and the one way a token is stored.

Only a hash of an auth token ever leaves the process that made it (the CreateAccount command,
the log and the read model carry the hash). A plain SHA-256 is enough here, unlike for
passwords: the token is 128 random bits, so there is nothing to guess and no dictionary to
run, and a slow hash would only slow down every API request.
"""

from __future__ import annotations

import hmac
import secrets
from hashlib import sha256

from events.sids import ACCOUNT


def new_account_sid() -> str:
    return ACCOUNT + secrets.token_hex(16)


def new_auth_token() -> str:
    return secrets.token_hex(16)


def hash_auth_token(token: str) -> str:
    return sha256(token.encode()).hexdigest()


def token_matches(token: str, stored_hash: str) -> bool:
    # Constant-time comparison: the time taken says nothing about how much of it matched.
    return hmac.compare_digest(hash_auth_token(token), stored_hash)
