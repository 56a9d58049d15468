"""eSIM Profiles: `/v1/ESimProfiles`: order (create), fetch, list (Eid, SimSid, Status).

An order is answered once the profile is in the log (status `new`): its reservation is the
SM-DP+'s, reported later as status changes (services/domain/decide_esim.py), and the change to
`available` calls the CallbackUrl.
"""

from __future__ import annotations

import asyncpg
import msgspec
from litestar import Request, Response, get, post
from litestar.params import FromPath

from events.commands import CreateEsimProfile
from events.sids import ESIM_PROFILE, is_sid
from services.api import forms, pages
from services.api.context import api_of, base_url, iso, json_response
from services.api.errors import not_found
from services.api.filters import check_values, equality_filters
from services.api.forms import Param
from services.api.responses import answer_created, write
from services.domain.decide_esim import STATUSES

PATH = "/v1/ESimProfiles"


class EsimProfile(msgspec.Struct):
    sid: str
    account_sid: str
    iccid: str | None
    sim_sid: str | None
    status: str
    eid: str | None
    smdp_plus_address: str | None
    matching_id: str | None
    activation_code: str | None
    error_code: str | None
    error_message: str | None
    date_created: str
    date_updated: str
    url: str


class EsimProfilePage(msgspec.Struct):
    esim_profiles: list[EsimProfile]
    meta: pages.Meta


# Neither is required alone: one of the two is (the decider says so, 400 20001).
CREATE_PARAMS = (
    Param(
        "Eid",
        "eid",
        description="The EID of the eUICC that will claim the profile: 32 letters or digits",
        pattern="^[0-9A-Za-z]{32}$",
    ),
    Param(
        "GenerateMatchingId",
        "generate_matching_id",
        "boolean",
        description="true: no Eid needed; the SM-DP+ generates a matching id any device can use",
    ),
    Param(
        "CallbackUrl",
        "callback_url",
        format="uri",
        description="Called when the profile becomes available",
    ),
    Param("CallbackMethod", "callback_method", enum=("GET", "POST")),
)
LIST_FILTERS = (
    Param("Eid", "eid", description="Only the profiles of this EID"),
    Param("SimSid", "sim_sid", description="The profile of this Sim (one or none)"),
    Param("Status", "status", enum=STATUSES),
)
_COLUMNS = (
    "sid, account_sid, iccid, sim_sid, status, eid, smdp_plus_address, matching_id, "
    "activation_code, error_code, error_message, date_created, date_updated"
)


def esim_profile_of(row: asyncpg.Record, base: str) -> EsimProfile:
    return EsimProfile(
        sid=row["sid"],
        account_sid=row["account_sid"],
        iccid=row["iccid"],
        sim_sid=row["sim_sid"],
        status=row["status"],
        eid=row["eid"],
        smdp_plus_address=row["smdp_plus_address"],
        matching_id=row["matching_id"],
        activation_code=row["activation_code"],
        error_code=row["error_code"],
        error_message=row["error_message"],
        date_created=iso(row["date_created"]),
        date_updated=iso(row["date_updated"]),
        url=f"{base}{PATH}/{row['sid']}",
    )


async def find_esim_profile(db, account_sid: str, sid: str) -> asyncpg.Record | None:
    if not is_sid(ESIM_PROFILE, sid):
        return None
    query = f"select {_COLUMNS} from esim_profiles where account_sid = $1 and sid = $2"
    return await db.fetchrow(query, account_sid, sid)


@post(PATH, status_code=201)
async def create_esim_profile(request: Request) -> Response:
    written = await write(request, CREATE_PARAMS, lambda values: CreateEsimProfile(**values))
    return await answer_created(
        request, written, ESIM_PROFILE, PATH, find_esim_profile, esim_profile_of
    )


@get(PATH + "/{sid:str}")
async def fetch_esim_profile(request: Request, sid: FromPath[str]) -> Response:
    api = api_of(request)
    account = await api.auth.account_sid(request)
    forms.read(forms.query_params(request), ())
    row = await find_esim_profile(api.db, account, sid)
    if row is None:
        raise not_found("EsimProfile", sid)
    return json_response(esim_profile_of(row, base_url(request)))


@get(PATH)
async def list_esim_profiles(request: Request) -> Response:
    api = api_of(request)
    account = await api.auth.account_sid(request)
    values = forms.read(forms.query_params(request), (*LIST_FILTERS, *pages.PAGE_PARAMS))
    page = pages.page_request(values)
    check_values(values, LIST_FILTERS)
    where, args, filters = await equality_filters(api.db, account, values, LIST_FILTERS)
    listing = await pages.fetch_page(
        api.db, f"select {_COLUMNS} from esim_profiles", where, args, page
    )
    base = base_url(request)
    meta = pages.page_meta(base, PATH, "esim_profiles", filters, page, listing, _position)
    return json_response(EsimProfilePage([esim_profile_of(r, base) for r in listing.rows], meta))


def _position(row: asyncpg.Record):
    return row["date_created"], row["sid"]
