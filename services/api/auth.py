"""HTTP Basic auth `AccountSid:AuthToken` against the accounts read model, with rate limits.

A verified account's token hash is kept in memory for `api_auth_cache_seconds` after it was
read from PostgreSQL, and never longer: a hit does not extend it. A token can be rotated
(AuthTokenChanged) and an account closed (AccountClosed), so the bound on an old token or a
closed account is the projection's lag plus that time. Failures are never cached, so an account
created a moment ago (its CreateAccount projected) authenticates at once.

Every request that asks to authenticate first takes a token from its client address's bucket
and, while that address's failed logins are over their limit, is refused before the database
is asked: a flood of wrong tokens costs a few queries, not one each. A verified request then
takes a token from its account's bucket. Refusals are 429 20429 with Retry-After.
"""

from __future__ import annotations

import binascii
import time
from base64 import b64decode

from litestar import Request

from events.sids import OPERATOR_ACCOUNT_SID, is_sid
from services.api.db import Database
from services.api.errors import ApiError
from services.api.ratelimit import TokenBuckets, retry_after
from services.config import Settings
from services.credentials import token_matches

_CHALLENGE = {"WWW-Authenticate": 'Basic realm="fleetstate"'}
# Closed accounts have no row here for auth: they answer as an unknown account would.
_TOKEN_HASH = "select auth_token_hash from accounts where sid = $1 and date_closed is null"


def unauthorized() -> ApiError:
    return ApiError(
        401, 20003, "Authentication failed: check the Account SID and Auth Token", _CHALLENGE
    )


def too_many_requests(seconds: float, whose: str) -> ApiError:
    return ApiError(
        429,
        20429,
        f"Too many requests from this {whose}: retry after {retry_after(seconds)} s",
        {"Retry-After": retry_after(seconds)},
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
    def __init__(self, db: Database, settings: Settings | None = None) -> None:
        settings = settings or Settings()
        self.db = db
        self.cache_seconds = settings.api_auth_cache_seconds
        self._known: dict[str, tuple[str, float]] = {}  # account sid -> (token hash, until)
        self.per_address = TokenBuckets(
            settings.api_rate_per_address, settings.api_burst_per_address
        )
        self.per_account = TokenBuckets(
            settings.api_rate_per_account, settings.api_burst_per_account
        )
        self.failed_logins = TokenBuckets(
            settings.api_failed_logins_per_second, settings.api_failed_logins_burst
        )

    async def account_sid(self, request: Request) -> str:
        """The SID of the account the request authenticates as; 401 20003 if it does not,
        429 20429 if its address or account is over its limit."""
        # The peer's address: a forwarded-for header is the client's to write, so not trusted.
        address = request.client.host if request.client else "unknown"
        wait = self.per_address.take(address) or self.failed_logins.wait(address)
        if wait:
            raise too_many_requests(wait, "client address")
        try:
            sid = await self._verified(request)
        except ApiError as error:
            if error.status == 401:
                self.failed_logins.take(address)
            raise
        wait = self.per_account.take(sid)
        if wait:
            raise too_many_requests(wait, "account")
        return sid

    async def _verified(self, request: Request) -> str:
        sid, token = _credentials(request.headers.get("authorization"))
        # The operator pseudo-account owns the catalogue; nobody can sign in as it.
        if not is_sid("AC", sid) or sid == OPERATOR_ACCOUNT_SID:
            raise unauthorized()
        cached = self._known.get(sid)
        if cached is not None and cached[1] > time.monotonic():
            if token_matches(token, cached[0]):
                return sid
            # Perhaps the token was just rotated: the new one works once it is projected.
        if not token_matches(token, await self._read(sid)):
            raise unauthorized()
        return sid

    async def _read(self, sid: str) -> str:
        stored = await self.db.fetchval(_TOKEN_HASH, sid)
        if stored is None:
            self._known.pop(sid, None)
            raise unauthorized()
        # Armed when read, never re-armed by a hit: the bound on a stale hash is fixed.
        self._known[sid] = (stored, time.monotonic() + self.cache_seconds)
        return stored
