"""Writes, declared one way: `write()` does what every write does (the caller authenticated,
its form read against the route's parameters, the command sent through the log with the
request's Idempotency-Key, a rejection raised as the API error it names); the handler says only
which command the form makes and how the result is answered.

How writes are answered: 201/200 once visible, 202 while still being processed.

A 202 carries the resource as the read model knows it at that moment. A resource the read model
does not show yet (a create still on its way) is answered with what is already certain: its SID
(derived from the command id, so it is final), its account and its URL.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, NamedTuple

import msgspec
from litestar import Request, Response

from events.commands import Command
from events.sids import derive_sid
from services.api import forms, idempotency
from services.api.context import Api, api_of, base_url, json_response
from services.api.forms import Param
from services.api.writes import WriteResult


class Pending(msgspec.Struct):
    """A resource accepted for processing but not yet visible: fetch `url` later, or repeat
    the request with the same Idempotency-Key to get the final answer."""

    sid: str
    account_sid: str
    url: str

    @classmethod
    def of(cls, sid: str, account_sid: str, url: str) -> Pending:
        return cls(sid=sid, account_sid=account_sid, url=url)


def answer_write(body: object, status: int) -> Response:
    return json_response(body, status)


class Written(NamedTuple):
    api: Api
    account_sid: str
    values: dict[str, Any]  # the form, read
    result: WriteResult  # accepted (a rejection was raised), perhaps still pending


async def write(
    request: Request, params: Sequence[Param], command: Callable[[dict[str, Any]], Command]
) -> Written:
    api = api_of(request)
    account = await api.auth.account_sid(request)
    values = forms.read(await forms.form_params(request), params)
    result = await api.writer.execute(
        command(values), account_sid=account, idempotency=await idempotency.of_request(request)
    )
    result.raise_if_rejected()
    return Written(api, account, values, result)


async def answer_created(
    request: Request,
    written: Written,
    prefix: str,
    path: str,
    find: Callable[[Any, str, str], Awaitable[Any]],
    render: Callable[[Any, str], object],
) -> Response:
    """A create's answer: the new resource (its SID derives from the command id), 201 once the
    read model shows it, else 202 with it as shown or with what is certain (Pending)."""
    api, account, _, result = written
    sid = derive_sid(prefix, result.command_id, account)
    base = base_url(request)
    row = await find(api.db, account, sid)
    if row is None:
        return answer_write(Pending.of(sid, account, f"{base}{path}/{sid}"), 202)
    return answer_write(render(row, base), 202 if result.pending else 201)
