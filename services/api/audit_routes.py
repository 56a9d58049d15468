"""The audit over HTTP, an extension of the contract documented in our OpenAPI:

- `GET /v1/{Fleets,Sims,NetworkAccessProfiles}/{Sid}/Events`: every event of one resource in
  order, each with the fields it changed (old -> new), who asked and the command; keyset pages
  on the aggregate version.
- `AsOf=` on the fetch of those three resources: the resource as it was at that moment.

Both read the event-history read model through services/audit (the same code as
`fleetstate history` and `fleetstate as-of`), scoped to the caller's account like every query.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlencode

import msgspec
from litestar import Request, Response, get
from litestar.params import FromPath

from services.api import forms, pages
from services.api.context import api_of, base_url, iso, json_response
from services.api.errors import invalid, not_found
from services.api.forms import Param
from services.audit import FLEET, PROFILE, SIM, HistoryEntry, Kind, history_page, resource_as_of

AS_OF = Param(
    "AsOf",
    "as_of",
    format="date-time",
    description=(
        "Extension: the resource as it was at this moment (ISO 8601, UTC if no zone; "
        "a time to the second includes that whole second)"
    ),
)


class FieldChange(msgspec.Struct):
    field: str
    old: Any
    new: Any


class ResourceEvent(msgspec.Struct):
    sid: str  # the event id
    type: str
    resource_type: str
    resource_sid: str
    version: int  # the resource's version after this event: 1..n without gaps
    date_created: str  # when it happened (the command's time)
    actor: str
    command_id: str
    correlation_id: str | None
    created: bool  # the event created the resource: every field is new
    changes: list[FieldChange]
    payload: dict[str, Any]  # the event as recorded (a status change's reason, say)
    log_partition: int | None
    log_offset: int | None


class ResourceEventPage(msgspec.Struct):
    events: list[ResourceEvent]
    meta: pages.Meta


def parse_moment(value: str, name: str = "AsOf") -> datetime:
    try:
        moment = datetime.fromisoformat(value)
        # In UTC now: an offset at the edge of datetime's range would overflow later.
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    except (ValueError, OverflowError):
        raise invalid(f"{name} must be an ISO 8601 date-time, e.g. 2026-11-01T00:00:00Z") from None


async def as_of_row(request: Request, account: str, kind: Kind, ref: str, at: str) -> dict:
    """The resource's read-model row as it was at `at`; 404 20404 if it did not exist then.

    The API writes times to the second, so a moment given to the second means the end of that
    second: `AsOf=<a date_created>` shows the resource as that event left it."""
    row = await resource_as_of(api_of(request).db, account, kind, ref, moment_of(at))
    if row is None:
        raise not_found(kind.aggregate_type, ref)
    return row


def moment_of(at: str) -> datetime:
    """The moment an AsOf names: one given to the second means the end of that second."""
    moment = parse_moment(at)
    if moment.microsecond == 0:
        moment += timedelta(microseconds=999_999)
    return moment


def _event_of(entry: HistoryEntry) -> ResourceEvent:
    return ResourceEvent(
        sid=entry.event_id,
        type=entry.type,
        resource_type=entry.aggregate_type,
        resource_sid=entry.aggregate_id,
        version=entry.aggregate_version,
        date_created=iso(entry.occurred_at),
        actor=entry.actor,
        command_id=entry.command_id,
        correlation_id=entry.correlation_id,
        created=entry.created,
        changes=[FieldChange(c.field, c.old, c.new) for c in entry.changes],
        payload=entry.payload,
        log_partition=entry.log_partition,
        log_offset=entry.log_offset,
    )


# Version tokens: "PV" and the last version shown. Another prefix than the list tokens', so a
# token of one kind is never mistaken for the other. Every token of this shape is accepted (see
# services/api/pages.py); one past the largest version a column holds is read as that one.
VERSION_TOKEN_PATTERN = "^PV([0-9]{1,18})$"
_VERSION_TOKEN = re.compile(VERSION_TOKEN_PATTERN)
_LAST_VERSION = 2**31 - 1
EVENT_PAGE_PARAMS = pages.page_params(VERSION_TOKEN_PATTERN)


def _encode_version(version: int) -> str:
    return f"PV{version}"


def _decode_version(token: str) -> int:
    match = _VERSION_TOKEN.fullmatch(token)
    if match is None:
        raise pages.bad_token()
    return min(int(match.group(1)), _LAST_VERSION)


async def _events(request: Request, kind: Kind, collection: str, ref: str) -> Response:
    api = api_of(request)
    account = await api.auth.account_sid(request)
    values = forms.read(forms.query_params(request), EVENT_PAGE_PARAMS)
    size = values.get("page_size", pages.DEFAULT_PAGE_SIZE)
    if not 1 <= size <= pages.MAX_PAGE_SIZE:
        raise invalid(f"PageSize must be between 1 and {pages.MAX_PAGE_SIZE}")
    page_number = values.get("page", 0)
    if not 0 <= page_number <= pages.MAX_PAGE:
        raise invalid("Page must be a non-negative integer")
    token = values.get("page_token")
    after = _decode_version(token) if token is not None else 0
    page = await history_page(api.db, account, kind, ref, size, after)
    if page is None:
        raise not_found(kind.aggregate_type, ref)
    path = f"{base_url(request)}/v1/{collection}/{quote(ref, safe='')}/Events"

    def url(number: int, token: str | None) -> str:
        query = [("PageSize", str(size)), ("Page", str(number))]
        if token is not None:
            query.append(("PageToken", token))
        return f"{path}?{urlencode(query)}"

    following = page.next_after_version
    meta = pages.Meta(
        page=page_number,
        page_size=size,
        first_page_url=url(0, None),
        # Keyset pages on the version run forwards; the first page is always one link away.
        previous_page_url=url(0, None) if after else None,
        url=url(page_number, token),
        next_page_url=url(page_number + 1, _encode_version(following)) if following else None,
        key="events",
    )
    return json_response(ResourceEventPage([_event_of(e) for e in page.entries], meta))


@get("/v1/Fleets/{sid:str}/Events")
async def fleet_events(request: Request, sid: FromPath[str]) -> Response:
    return await _events(request, FLEET, "Fleets", sid)


@get("/v1/Sims/{sid:str}/Events")
async def sim_events(request: Request, sid: FromPath[str]) -> Response:
    return await _events(request, SIM, "Sims", sid)


@get("/v1/NetworkAccessProfiles/{sid:str}/Events")
async def profile_events(request: Request, sid: FromPath[str]) -> Response:
    return await _events(request, PROFILE, "NetworkAccessProfiles", sid)


ROUTES = [fleet_events, sim_events, profile_events]
