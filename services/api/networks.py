"""The Network catalogue, `/v1/Networks`: read-only for accounts (the operator provisions it)."""

from __future__ import annotations

import asyncpg
import msgspec
from litestar import Request, Response, get
from litestar.params import FromPath

from events.sids import NETWORK, is_sid
from services.api import forms, pages
from services.api.context import api_of, base_url, json_response
from services.api.errors import not_found
from services.api.forms import Param


class Identifier(msgspec.Struct):
    mcc: str
    mnc: str


class Network(msgspec.Struct):
    sid: str
    friendly_name: str
    iso_country: str
    identifiers: list[Identifier]
    url: str


class NetworkPage(msgspec.Struct):
    networks: list[Network]
    meta: pages.Meta


LIST_FILTERS = (
    Param("IsoCountry", "iso_country", description="ISO 3166-1 alpha-2 country code"),
    Param("Mcc", "mcc", description="Mobile country code"),
    Param("Mnc", "mnc", description="Mobile network code"),
)
COLUMNS = "sid, friendly_name, iso_country, identifiers, date_created"


def network_of(row: asyncpg.Record, base: str) -> Network:
    return Network(
        sid=row["sid"],
        friendly_name=row["friendly_name"],
        iso_country=row["iso_country"],
        identifiers=[Identifier(**i) for i in row["identifiers"]],
        url=f"{base}/v1/Networks/{row['sid']}",
    )


@get("/v1/Networks")
async def list_networks(request: Request) -> Response:
    api = api_of(request)
    await api.auth.account_sid(request)
    params = forms.query_params(request)
    values = forms.read(params, (*LIST_FILTERS, *pages.PAGE_PARAMS))
    page = pages.page_request(values)
    where, args = [], []
    if "iso_country" in values:
        args.append(values["iso_country"])
        where.append(f"iso_country = ${len(args)}")
    wanted = {k: values[k] for k in ("mcc", "mnc") if k in values}
    if wanted:  # one identifier must carry both: jsonb containment on the GIN index
        args.append([wanted])
        where.append(f"identifiers @> ${len(args)}::jsonb")
    listing = await pages.fetch_page(api.db, f"select {COLUMNS} from networks", where, args, page)
    base = base_url(request)
    filters = [(p.name, values[p.field]) for p in LIST_FILTERS if p.field in values]
    meta = pages.page_meta(base, "/v1/Networks", "networks", filters, page, listing, _position)
    return json_response(NetworkPage([network_of(r, base) for r in listing.rows], meta))


@get("/v1/Networks/{sid:str}")
async def fetch_network(request: Request, sid: FromPath[str]) -> Response:
    api = api_of(request)
    await api.auth.account_sid(request)
    forms.read(forms.query_params(request), ())
    row = None
    if is_sid(NETWORK, sid):
        row = await api.db.fetchrow(f"select {COLUMNS} from networks where sid = $1", sid)
    if row is None:
        raise not_found("Network", sid)
    return json_response(network_of(row, base_url(request)))


def _position(row: asyncpg.Record):
    return row["date_created"], row["sid"]
