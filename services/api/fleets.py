"""Fleets, `/v1/Fleets`: create, fetch, list (filter NetworkAccessProfile), update.

Both spellings of the SMS Commands fields are read (`CommandsUrl` / `SmsCommandsUrl`, ...) and
both are written, with equal values; the decider refuses the two given with different values.
"""

from __future__ import annotations

import asyncpg
import msgspec
from litestar import Request, Response, get, post
from litestar.params import FromPath

from events.commands import CreateFleet, UpdateFleet
from events.sids import FLEET, NETWORK_ACCESS_PROFILE
from services.api import audit_routes, forms, pages
from services.api.context import api_of, base_url, by_ref, iso, json_response
from services.api.errors import not_found
from services.api.forms import Param
from services.api.responses import answer_created, answer_write, write
from services.audit import FLEET as FLEET_KIND
from services.projection import FLEETS

METHODS = ("GET", "POST")


class Fleet(msgspec.Struct):
    account_sid: str
    sid: str
    unique_name: str | None
    date_created: str
    date_updated: str
    url: str
    data_enabled: bool
    data_limit: int
    data_metering: str
    commands_enabled: bool
    commands_url: str | None
    commands_method: str
    sms_commands_enabled: bool
    sms_commands_url: str | None
    sms_commands_method: str
    network_access_profile_sid: str
    ip_commands_url: str | None
    ip_commands_method: str


class FleetPage(msgspec.Struct):
    fleets: list[Fleet]
    meta: pages.Meta


_NAME = Param(
    "UniqueName",
    "unique_name",
    "nullable",
    description="Unique per account; not the shape of a Fleet SID",
    max_length=64,
    pattern=forms.UNIQUE_NAME,
)
_PROFILE = "SID or unique name of a Network Access Profile"
_SETTINGS = (
    Param(
        "DataLimit",
        "data_limit",
        "integer",
        description="MB per SIM per billing period",
        minimum=1,
        maximum=2_000_000,
    ),
    Param("CommandsUrl", "commands_url", "nullable", format="uri"),
    Param("SmsCommandsUrl", "sms_commands_url", "nullable", format="uri"),
    Param("CommandsMethod", "commands_method", enum=METHODS),
    Param("SmsCommandsMethod", "sms_commands_method", enum=METHODS),
    Param("IpCommandsUrl", "ip_commands_url", "nullable", format="uri"),
    Param("IpCommandsMethod", "ip_commands_method", enum=METHODS),
)
_IMMUTABLE = (
    Param("DataEnabled", "data_enabled", "boolean"),
    Param("CommandsEnabled", "commands_enabled", "boolean"),
    Param("SmsCommandsEnabled", "sms_commands_enabled", "boolean"),
)
CREATE_PARAMS = (
    Param(
        "NetworkAccessProfile",
        "network_access_profile",
        required=True,
        description=_PROFILE,
        pattern=forms.NOT_EMPTY,
    ),
    _NAME,
    *_IMMUTABLE,
    *_SETTINGS,
)
UPDATE_PARAMS = (
    Param(
        "NetworkAccessProfile",
        "network_access_profile",
        description=_PROFILE,
        pattern=forms.NOT_EMPTY,
    ),
    _NAME,
    *_SETTINGS,
)
# The immutable settings are read on update only to be refused with the decider's message
# (create a new Fleet and reassign its Sims). Our OpenAPI leaves them out: no value is accepted.
REFUSED_ON_UPDATE = (*_IMMUTABLE, Param("DataMetering", "data_metering"))
LIST_FILTERS = (Param("NetworkAccessProfile", "network_access_profile", description=_PROFILE),)

COLUMNS = ", ".join(FLEETS.columns)


def fleet_of(row: asyncpg.Record, base: str) -> Fleet:
    return Fleet(
        account_sid=row["account_sid"],
        sid=row["sid"],
        unique_name=row["unique_name"],
        date_created=iso(row["date_created"]),
        date_updated=iso(row["date_updated"]),
        url=f"{base}/v1/Fleets/{row['sid']}",
        data_enabled=row["data_enabled"],
        data_limit=row["data_limit"],
        data_metering=row["data_metering"],
        commands_enabled=row["sms_commands_enabled"],
        commands_url=row["sms_commands_url"],
        commands_method=row["sms_commands_method"],
        sms_commands_enabled=row["sms_commands_enabled"],
        sms_commands_url=row["sms_commands_url"],
        sms_commands_method=row["sms_commands_method"],
        network_access_profile_sid=row["network_access_profile_sid"],
        ip_commands_url=row["ip_commands_url"],
        ip_commands_method=row["ip_commands_method"],
    )


async def find_fleet(db, account_sid: str, ref: str) -> asyncpg.Record | None:
    return await db.fetchrow(
        f"select {COLUMNS} from fleets where account_sid = $1 and {by_ref(FLEET, ref, 2)}",
        account_sid,
        ref,
    )


@post("/v1/Fleets", status_code=201)
async def create_fleet(request: Request) -> Response:
    written = await write(request, CREATE_PARAMS, lambda values: CreateFleet(**values))
    return await answer_created(request, written, FLEET, "/v1/Fleets", find_fleet, fleet_of)


@get("/v1/Fleets")
async def list_fleets(request: Request) -> Response:
    api = api_of(request)
    account = await api.auth.account_sid(request)
    values = forms.read(forms.query_params(request), (*LIST_FILTERS, *pages.PAGE_PARAMS))
    page = pages.page_request(values)
    where, args = ["account_sid = $1"], [account]
    profile_ref = values.get("network_access_profile")
    if profile_ref is not None:
        # A filter, not a reference: an unknown profile simply matches no Fleet.
        profile_sid = await api.db.fetchval(
            "select sid from network_access_profiles where account_sid = $1 and "
            + by_ref(NETWORK_ACCESS_PROFILE, profile_ref, 2),
            account,
            profile_ref,
        )
        args.append(profile_sid or "")
        where.append("network_access_profile_sid = $2")
    listing = await pages.fetch_page(api.db, f"select {COLUMNS} from fleets", where, args, page)
    base = base_url(request)
    filters = [("NetworkAccessProfile", profile_ref)] if profile_ref is not None else []
    meta = pages.page_meta(base, "/v1/Fleets", "fleets", filters, page, listing, _position)
    return json_response(FleetPage([fleet_of(r, base) for r in listing.rows], meta))


@get("/v1/Fleets/{sid:str}")
async def fetch_fleet(request: Request, sid: FromPath[str]) -> Response:
    api = api_of(request)
    account = await api.auth.account_sid(request)
    values = forms.read(forms.query_params(request), (audit_routes.AS_OF,))
    if "as_of" in values:
        row = await audit_routes.as_of_row(request, account, FLEET_KIND, sid, values["as_of"])
    else:
        row = await find_fleet(api.db, account, sid)
    if row is None:
        raise not_found("Fleet", sid)
    return json_response(fleet_of(row, base_url(request)))


@post("/v1/Fleets/{sid:str}")
async def update_fleet(request: Request, sid: FromPath[str]) -> Response:
    params = (*UPDATE_PARAMS, *REFUSED_ON_UPDATE)
    api, account, _, result = await write(request, params, lambda v: UpdateFleet(fleet=sid, **v))
    target = (result.aggregate_ids() or [sid])[0]  # a rename leaves the old name behind
    row = await find_fleet(api.db, account, target)
    if row is None:
        raise not_found("Fleet", sid)
    return answer_write(fleet_of(row, base_url(request)), 202 if result.pending else 200)


def _position(row: asyncpg.Record):
    return row["date_created"], row["sid"]
