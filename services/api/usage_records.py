"""`GET /v1/UsageRecords`: Twilio's UsageRecords, read from the usage read model.

The query's rules and decisions are services/usage/records_query.py's and records.py's; this
module only speaks HTTP for them: Basic auth, the account's own usage only, parameters checked
by name and shape like every list, and the list page with its `meta`.

Decisions where Twilio is silent:
- Page URLs carry the StartTime and EndTime the first page resolved (EndTime defaults to now),
  so following next_page_url pages through the same window, not one that moved with the clock.
- The cursor only moves forward (newest period first): `previous_page_url` is always null.
"""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec
from litestar import Request, Response, get

from services.api import forms, pages
from services.api.context import api_of, base_url, clock, json_response
from services.api.errors import invalid, not_found
from services.api.forms import Param
from services.usage import records
from services.usage.records_query import GRANULARITIES, GROUPS, InvalidParameter, parse_usage_query

PATH = "/v1/UsageRecords"
QUERY_PARAMS = (
    Param(
        "Sim",
        "sim",
        description="SID or unique name of a Sim: only its usage",
        pattern=forms.NOT_EMPTY,
    ),
    Param(
        "Fleet",
        "fleet",
        description="SID or unique name of a Fleet: usage while in it",
        pattern=forms.NOT_EMPTY,
    ),
    Param(
        "Network",
        "network",
        description="SID of a Network: usage on it",
        pattern="^HW[0-9a-f]{32}$",
    ),
    Param("IsoCountry", "iso_country", description="ISO 3166-1 alpha-2", pattern="^[A-Za-z]{2}$"),
    Param("Group", "group", enum=GROUPS, description="One record per value of this dimension"),
    Param("Granularity", "granularity", enum=GRANULARITIES, description="Default all"),
    Param(
        "StartTime",
        "start_time",
        format="date-time",
        description="ISO 8601, inclusive; default one month before EndTime",
    ),
    Param(
        "EndTime", "end_time", format="date-time", description="ISO 8601, exclusive; default now"
    ),
)


# records.py's own token, not pages.py's: a position in periods and group values.
PAGE_PARAMS = pages.page_params(records.TOKEN_PATTERN)
_WINDOW = ("StartTime", "EndTime")  # always in page URLs, as resolved


class UsagePeriod(msgspec.Struct):
    start_time: str
    end_time: str


class UsageRecord(msgspec.Struct):
    """Data used in `period`; a SID or country is filled when filtered or grouped by."""

    account_sid: str
    sim_sid: str | None
    fleet_sid: str | None
    network_sid: str | None
    iso_country: str | None
    period: UsagePeriod
    data_upload: int  # bytes
    data_download: int
    data_total: int
    data_total_billed: float  # 0: nothing is billed here
    billed_unit: str | None


class UsageRecordPage(msgspec.Struct):
    usage_records: list[UsageRecord]
    meta: pages.Meta


def _stamp(moment: datetime) -> str:
    """ISO 8601 in UTC with a Z, to the microsecond when it has any: page URLs must name the
    window exactly."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


@get(PATH)
async def list_usage_records(request: Request) -> Response:
    api = api_of(request)
    account = await api.auth.account_sid(request)
    params = forms.query_params(request)
    values = forms.read(params, (*QUERY_PARAMS, *PAGE_PARAMS))
    token = values.pop("page_token", None)  # records.py's own token, not pages.py's
    page = pages.page_request(values)
    # To the second: the first page's window is exactly the one its page URLs name.
    now = clock().replace(microsecond=0)
    try:
        query = parse_usage_query({name: texts[0] for name, texts in params.items()}, now)
        found = await records.list_usage_records(api.db, account, query, page.size, token)
    except InvalidParameter as exc:
        raise invalid(str(exc)) from None
    except records.NotFound as exc:
        raise not_found(exc.what, exc.ref) from None
    except records.InvalidPageToken:
        raise pages.bad_token() from None
    given = [p for p in QUERY_PARAMS if p.field in values and p.name not in _WINDOW]
    filters = [(p.name, values[p.field]) for p in given]
    filters += [("StartTime", _stamp(query.start_time)), ("EndTime", _stamp(query.end_time))]
    base = base_url(request)

    def url(number: int, at: str | None) -> str:
        return pages.page_url(base, PATH, filters, page.size, number, at)

    next_token = found.next_page_token
    meta = pages.Meta(
        page=page.page,
        page_size=page.size,
        first_page_url=url(0, None),
        previous_page_url=None,
        url=url(page.page, token),
        next_page_url=url(page.page + 1, next_token) if next_token else None,
        key="usage_records",
    )
    usage = msgspec.convert(found.records, list[UsageRecord])
    return json_response(UsageRecordPage(usage, meta))
