"""List pages: PageSize, Page, PageToken and the `meta` block, keyset-paginated.

A PageToken names a position in the list's order, (date_created, sid), and a direction: "the
rows after this one" (next pages) or "the rows before it" (previous pages). Each page is one
index range scan from that position, so page 10,000 costs what page 1 does; an offset would scan
every row before it. The token is opaque to clients: they pass back the page URLs of `meta`
(twilio-python and the other SDKs follow `next_page_url` verbatim). A made-up token of the right
shape is just another position in the caller's own rows, since every query is filtered by
account, so /openapi.json publishes that shape exactly (TOKEN_PATTERN): every string matching it
is accepted, anything else is 400 21481. A pattern rather than Twilio's free string: the SDKs
never build a token, so it costs their users nothing, and a free string would promise generated
clients and fuzzers that any text is a token, which the server must then refuse.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from urllib.parse import urlencode

import asyncpg
import msgspec

from services.api.db import Database
from services.api.errors import ApiError, invalid
from services.api.forms import Param

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000
MAX_PAGE = 10**9
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Microseconds since the epoch, up to 18 digits; later than datetime can hold is read as its
# last moment, which changes no page: no row is dated after year 9999.
_LAST_MICROS = (datetime.max.replace(tzinfo=UTC) - _EPOCH) // timedelta(microseconds=1)

# "PT", the direction ("a": the rows after the position, "b": those before it), date_created in
# microseconds since the epoch, "_" and the sid ("~" after it: just past that sid).
TOKEN_PATTERN = "^PT([ab])([0-9]{1,18})_([A-Z]{2}[0-9a-f]{32}~?)$"
_TOKEN = re.compile(TOKEN_PATTERN)
TOKEN_DESCRIPTION = (
    "Opaque: only a token from a page URL in a previous page's `meta` is meaningful (the "
    "official SDKs follow those URLs as they are); one of another shape is 400 21481"
)


def page_params(token_pattern: str) -> tuple[Param, ...]:
    """PageSize, Page and PageToken: each kind of list has a token of its own shape."""
    return (
        Param(
            "PageSize",
            "page_size",
            "integer",
            description="How many resources per page",
            minimum=1,
            maximum=MAX_PAGE_SIZE,
        ),
        Param(
            "Page",
            "page",
            "integer",
            description="The page index, for the client's own state",
            minimum=0,
            maximum=MAX_PAGE,
        ),
        Param("PageToken", "page_token", description=TOKEN_DESCRIPTION, pattern=token_pattern),
    )


PAGE_PARAMS = page_params(TOKEN_PATTERN)


class Meta(msgspec.Struct):
    page: int
    page_size: int
    first_page_url: str
    previous_page_url: str | None
    url: str
    next_page_url: str | None
    key: str


class _Token(msgspec.Struct):
    direction: Literal["a", "b"]  # after / before
    micros: int  # date_created, microseconds since the epoch
    sid: str


def encode_token(direction: str, date_created: datetime, sid: str) -> str:
    micros = (date_created - _EPOCH) // timedelta(microseconds=1)
    return f"PT{direction}{micros}_{sid}"


def bad_token() -> ApiError:
    return ApiError(400, 21481, "Invalid PageToken")


def decode_token(token: str) -> _Token:
    match = _TOKEN.fullmatch(token)
    if match is None:
        raise bad_token()
    direction, micros, sid = match.groups()
    return _Token(direction, min(int(micros), _LAST_MICROS), sid)


class PageRequest(msgspec.Struct):
    size: int
    page: int
    token: str | None
    position: _Token | None


def page_request(values: dict[str, Any]) -> PageRequest:
    """PageSize, Page and PageToken out of a list request's parameters (already read)."""
    size = values.pop("page_size", DEFAULT_PAGE_SIZE)
    if not 1 <= size <= MAX_PAGE_SIZE:
        raise invalid(f"PageSize must be between 1 and {MAX_PAGE_SIZE}")
    page = values.pop("page", 0)
    if not 0 <= page <= MAX_PAGE:
        raise invalid("Page must be a non-negative integer")
    token = values.pop("page_token", None)
    position = decode_token(token) if token is not None else None
    return PageRequest(size=size, page=page, token=token, position=position)


class Listing(msgspec.Struct):
    """One page of rows and whether rows exist beyond each end."""

    rows: list[asyncpg.Record]
    has_next: bool
    has_previous: bool


async def fetch_page(
    db: Database,
    select: str,
    where: list[str],
    args: list[Any],
    request: PageRequest,
    order: tuple[str, str] = ("date_created", "sid"),
) -> Listing:
    """Runs `select ... where <where> [and keyset] order by <order> limit size + 1`.
    `order` names the (timestamp, sid) columns of the keyset, as written in `select`."""
    args = list(args)
    conditions = list(where)
    position = request.position
    backwards = position is not None and position.direction == "b"
    if position is not None:
        args += [_EPOCH + timedelta(microseconds=position.micros), position.sid]
        op = "<" if backwards else ">"
        conditions.append(f"({order[0]}, {order[1]}) {op} (${len(args) - 1}, ${len(args)})")
    direction = "desc" if backwards else "asc"
    args.append(request.size + 1)
    sql = (
        f"{select} where {' and '.join(conditions) or 'true'} "
        f"order by {order[0]} {direction}, {order[1]} {direction} limit ${len(args)}"
    )
    rows = await db.fetch(sql, *args)
    more = len(rows) > request.size
    rows = rows[: request.size]
    if backwards:
        rows.reverse()
        # Going back from a row, there is always a next page: that row.
        return Listing(rows=rows, has_next=True, has_previous=more)
    return Listing(rows=rows, has_next=more, has_previous=position is not None)


def page_url(
    base_url: str,
    path: str,
    filters: list[tuple[str, str]],
    size: int,
    page: int,
    token: str | None,
) -> str:
    """An absolute page URL: every filter, PageSize, Page and the token when there is one."""
    query = [*filters, ("PageSize", str(size)), ("Page", str(page))]
    if token is not None:
        query.append(("PageToken", token))
    return f"{base_url}{path}?{urlencode(query)}"


def page_meta(
    base_url: str,
    path: str,
    key: str,
    filters: list[tuple[str, str]],
    request: PageRequest,
    listing: Listing,
    position_of,
) -> Meta:
    """The `meta` block: absolute URLs repeating every filter and PageSize, because clients
    (twilio-python among them) follow next_page_url verbatim. `position_of(row)` gives the
    (date_created, sid) of a row."""

    def url(page: int, token: str | None) -> str:
        return page_url(base_url, path, filters, request.size, page, token)

    rows = listing.rows
    next_url = previous_url = None
    if listing.has_next and rows:
        next_url = url(request.page + 1, encode_token("a", *position_of(rows[-1])))
    if listing.has_previous:
        previous_page = max(request.page - 1, 0)
        if rows:
            previous_url = url(previous_page, encode_token("b", *position_of(rows[0])))
        else:  # past the end: step back from where this page would have started
            position = request.position
            start = _EPOCH + timedelta(microseconds=position.micros)
            past = position.sid if position.sid.endswith("~") else position.sid + "~"
            previous_url = url(previous_page, encode_token("b", start, past))
    return Meta(
        page=request.page,
        page_size=request.size,
        first_page_url=url(0, None),
        previous_page_url=previous_url,
        url=url(request.page, request.token),
        next_page_url=next_url,
        key=key,
    )
