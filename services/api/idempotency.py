"""Idempotency-Key: one key, one request, for as long as command ids are remembered.

A key is bound to the first request that uses it: its fingerprint is the method, the path
(percent-decoded, the resource's SID or name as given) and the form, parameters sorted by
name. The binding is a row in PostgreSQL, so every API process, and one restarted, sees it:
- the same request again derives the same command id, so the processor answers it with its
  first outcome and appends nothing;
- another request with the key is refused with 422 20422 before any command is sent.
The command id hashes the fingerprint too: even without the row, a key reused for another
request could never be answered with the first request's outcome.
Bindings last FLEETSTATE_COMMAND_DEDUP_HOURS, the processor's memory of command ids; after that
the key is free. Expired rows are purged in the background.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from hashlib import sha256

import msgspec
from litestar import Request

from services.api import forms
from services.api.db import Database
from services.api.errors import ApiError, invalid
from services.echo import capped, shown

log = logging.getLogger(__name__)

HEADER = "idempotency-key"
MAX_KEY = 255
PURGE_EVERY_SECONDS = 600.0


class Idempotency(msgspec.Struct, frozen=True):
    key: str
    fingerprint: str
    request: str  # "METHOD /path", for the 422's message


async def of_request(request: Request) -> Idempotency | None:
    """The request's key and fingerprint; None without a key. Call after the form was read."""
    key = request.headers.get(HEADER)
    if key is None:
        return None
    if not 1 <= len(key) <= MAX_KEY:
        raise invalid(f"Idempotency-Key must be 1 to {MAX_KEY} characters long")
    path = request.scope["path"]  # percent-decoded: two spellings of one path are one request
    params = await forms.form_params(request)
    return Idempotency(
        key, fingerprint(request.method, path, params), capped(f"{request.method} {path}", 128)
    )


def fingerprint(method: str, path: str, params: forms.Params) -> str:
    # The order of names carries no meaning; the order of a list's values is kept.
    return sha256(msgspec.json.encode([method, path, sorted(params.items())])).hexdigest()


def command_id_for(account_sid: str, idempotency: Idempotency | None) -> str:
    """A fresh id, or one derived from the account (two accounts may use the same key), the
    key and the request it is bound to."""
    if idempotency is None:
        return uuid.uuid4().hex
    salted = f"{account_sid}\x1f{idempotency.key}\x1f{idempotency.fingerprint}"
    return "idem-" + sha256(salted.encode()).hexdigest()


_EXPIRED = "created_at < now() - make_interval(hours => {})"
# A free key (never used, or last bound before the horizon) is bound to this request. A key in
# use is left as it is; it is then read in a second statement, which sees the binding a
# concurrent first use made (the insert waited for it to commit).
_BIND = f"""
insert into idempotency_keys as k
    (account_sid, idempotency_key, fingerprint, request, created_at)
values ($1, $2, $3, $4, now())
on conflict (account_sid, idempotency_key) do update set
    fingerprint = excluded.fingerprint, request = excluded.request, created_at = now()
    where k.{_EXPIRED.format("$5")}
returning fingerprint, request
"""
_BOUND = (
    "select fingerprint, request from idempotency_keys "
    f"where account_sid = $1 and idempotency_key = $2 and not {_EXPIRED.format('$3')}"
)
_PURGE = f"delete from idempotency_keys where {_EXPIRED.format('$1')}"


class KeyStore:
    def __init__(self, db: Database, horizon_hours: int) -> None:
        self.db = db
        self.horizon_hours = horizon_hours
        self._purging: asyncio.Task | None = None

    async def bind(self, account_sid: str, idempotency: Idempotency) -> None:
        """Binds the key to this request, or raises 422 if it is bound to another."""
        key, hours = idempotency.key, self.horizon_hours
        row = None
        while row is None:  # a binding that expires between the two statements: bind again
            row = await self.db.fetchrow(
                _BIND, account_sid, key, idempotency.fingerprint, idempotency.request, hours
            )
            row = row or await self.db.fetchrow(_BOUND, account_sid, key, hours)
        if row["fingerprint"] != idempotency.fingerprint:
            first = row["request"]
            if first == idempotency.request:
                first += " with other parameters"
            raise ApiError(
                422,
                20422,
                f"Idempotency-Key {shown(key)} was used in the last {hours} hours for {first}: "
                "repeat that request exactly to get its answer, or use a new key",
            )

    def start(self) -> None:
        self._purging = asyncio.create_task(self._purge_forever())

    async def stop(self) -> None:
        if self._purging is not None:
            self._purging.cancel()
            await asyncio.gather(self._purging, return_exceptions=True)

    async def _purge_forever(self) -> None:
        """Only bounds the table's size: an expired row is already treated as free."""
        while True:
            try:
                await self.db.fetchval(_PURGE, self.horizon_hours)
            except Exception as exc:  # the database is down, say: next time
                log.warning("api: could not purge expired Idempotency-Keys: %r", exc)
            await asyncio.sleep(PURGE_EVERY_SECONDS)
