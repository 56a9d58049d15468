"""HTTP Basic auth `AccountSid:AuthToken` against the accounts read model.

A verified account's token hash is kept in memory for a short while: an account's token never
changes (there is no command that rotates it), and skipping a query on every request is most of
what makes a fetch fast. Failures are never cached, so an account created a moment ago (its
CreateAccount projected) authenticates at once.
"""

from __future__ import annotations

import binascii
import time
from base64 import b64decode

from litestar import Request

from events.sids import OPERATOR_ACCOUNT_SID, is_sid
from services.api.db import Database
from services.api.errors import ApiError
from services.credentials import token_matches

CACHE_SECONDS = 60.0
_CHALLENGE = {"WWW-Authenticate": 'Basic realm="fleetstate"'}


def unauthorized() -> ApiError:
    return ApiError(
        401, 20003, "Authentication failed: check the Account SID and Auth Token", _CHALLENGE
    )


def _credentials(header: str | None) -> tuple[str, str]:
    if not header or not header[:6].lower() == "basic ":
        raise unauthorized()
    try:
        decoded = b64decode(header[6:].strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise unauthorized() from None
    sid, colon, token = decoded.partition(":")
    if not colon:
        raise unauthorized()
    return sid, token


class Authenticator:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._known: dict[str, tuple[str, float]] = {}  # account sid -> (token hash, until)

    async def account_sid(self, request: Request) -> str:
        """The SID of the account the request authenticates as, or 401 20003."""
        sid, token = _credentials(request.headers.get("authorization"))
        # The operator pseudo-account owns the catalogue; nobody can sign in as it.
        if not is_sid("AC", sid) or sid == OPERATOR_ACCOUNT_SID:
            raise unauthorized()
        cached = self._known.get(sid)
        if cached is not None and cached[1] > time.monotonic():
            stored = cached[0]
        else:
            stored = await self.db.fetchval(
                "select auth_token_hash from accounts where sid = $1", sid
            )
            if stored is None:
                raise unauthorized()
        if not token_matches(token, stored):
            raise unauthorized()
        self._known[sid] = (stored, time.monotonic() + CACHE_SECONDS)
        return sid
