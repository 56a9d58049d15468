"""`GET /v1/Sims/{SimSid}/BillingPeriods`: the periods a Sim is billed for, derived from its
status changes (services/domain/billing_periods.py says which).

Nothing is stored for them: the Sim's SimStatusChanged events are read from the event history
(the projection of the log, as the audit reads it) and the periods are generated up to the one
holding now, a page at a time. With `AsOf` (our extension, as on the Sim's fetch) they are the
periods as they stood at that moment. Pages are keyset pages on the period's start, like every
list; a period's SID is derived from its Sim and its start, so it is the same on every read.
"""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec
from litestar import Request, Response, get
from litestar.params import FromPath

from events.sids import BILLING_PERIOD, SIM, derive_sid
from services.api import audit_routes, forms, pages
from services.api.context import api_of, base_url, by_ref, clock, iso, json_response
from services.api.errors import not_found
from services.audit import SIM as SIM_KIND
from services.domain.billing_periods import Period, billed_spans, periods_back, periods_from

PAGE_PARAMS = pages.PAGE_PARAMS
_MICROS = 1_000_000


class BillingPeriodResource(msgspec.Struct):
    sid: str
    account_sid: str
    sim_sid: str
    start_time: str
    end_time: str
    period_type: str
    date_created: str
    date_updated: str


class BillingPeriodPage(msgspec.Struct):
    billing_periods: list[BillingPeriodResource]
    meta: pages.Meta


@get("/v1/Sims/{sid:str}/BillingPeriods")
async def list_billing_periods(request: Request, sid: FromPath[str]) -> Response:
    api = api_of(request)
    account = await api.auth.account_sid(request)
    values = forms.read(forms.query_params(request), (audit_routes.AS_OF, *PAGE_PARAMS))
    as_of = values.pop("as_of", None)
    page = pages.page_request(values)
    if as_of is None:
        moment = clock()
        sim_sid = await api.db.fetchval(
            "select sid from sims where account_sid = $1 and " + by_ref(SIM, sid, 2), account, sid
        )
        if sim_sid is None:
            raise not_found("Sim", sid)
    else:  # the periods as they stood then: the Sim as it was, its changes until then
        moment = audit_routes.moment_of(as_of)
        sim_sid = (await audit_routes.as_of_row(request, account, SIM_KIND, sid, as_of))["sid"]
    changes = await api.db.fetch(
        "select occurred_at, payload ->> 'to_status' as status from event_history "
        "where account_sid = $1 and aggregate_id = $2 and type = 'SimStatusChanged' "
        "and occurred_at <= $3 order by aggregate_version",
        account,
        sim_sid,
        moment,
    )
    spans = billed_spans((int(c["occurred_at"].timestamp()), c["status"]) for c in changes)
    periods, listing = _page(spans, api.billing_period, int(moment.timestamp()), page)
    base = base_url(request)
    rows = [_resource(account, sim_sid, p) for p in periods]
    path = f"/v1/Sims/{sim_sid}/BillingPeriods"  # the SID: a rename does not move the pages
    filters = [] if as_of is None else [("AsOf", as_of)]
    meta = pages.page_meta(base, path, "billing_periods", filters, page, listing, _position)
    return json_response(BillingPeriodPage(rows, meta))


def _page(spans, period, now: int, page: pages.PageRequest) -> tuple[list[Period], pages.Listing]:
    """One page of periods after (or before) the token's position, and whether more exist."""
    position = page.position
    if position is not None and position.direction == "b":
        before = position.micros // _MICROS
        if position.sid.endswith("~"):  # just past the period there: it is included
            before += 1
        found = []
        for p in periods_back(spans, period, now, before):
            found.append(p)
            if len(found) > page.size:
                break
        more = len(found) > page.size
        found = found[: page.size][::-1]
        return found, pages.Listing(rows=found, has_next=True, has_previous=more)
    after = None if position is None else position.micros // _MICROS
    found = []
    for p in periods_from(spans, period, now, after=after):
        found.append(p)
        if len(found) > page.size:
            break
    more = len(found) > page.size
    found = found[: page.size]
    return found, pages.Listing(rows=found, has_next=more, has_previous=position is not None)


def _resource(account: str, sim_sid: str, p: Period) -> BillingPeriodResource:
    return BillingPeriodResource(
        sid=_sid(sim_sid, p.start),
        account_sid=account,
        sim_sid=sim_sid,
        start_time=iso(_moment(p.start)),
        end_time=iso(_moment(p.end)),
        period_type=p.period_type,
        date_created=iso(_moment(p.began)),
        date_updated=iso(_moment(p.changed)),
    )


def _sid(sim_sid: str, start: int) -> str:
    return derive_sid(BILLING_PERIOD, str(start), sim_sid)


def _moment(epoch: int) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def _position(row: BillingPeriodResource):
    start = datetime.fromisoformat(row.start_time.replace("Z", "+00:00"))
    return start, row.sid
