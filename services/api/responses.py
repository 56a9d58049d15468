"""How writes are answered: 201/200 once visible, 202 while still being processed.

A 202 carries the resource as the read model knows it at that moment. A resource the read model
does not show yet (a create still on its way) is answered with what is already certain: its SID
(derived from the command id, so it is final), its account and its URL.
"""

from __future__ import annotations

import msgspec
from litestar import Response

from services.api.context import json_response


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
