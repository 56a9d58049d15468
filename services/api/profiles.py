"""Network Access Profiles, `/v1/NetworkAccessProfiles`, and their Networks sub-resource."""

from __future__ import annotations

import asyncpg
import msgspec
from litestar import Request, Response, delete, get, post
from litestar.params import FromPath

from events.commands import (
    AddNetworkToProfile,
    CreateNetworkAccessProfile,
    RemoveNetworkFromProfile,
    UpdateNetworkAccessProfile,
)
from events.sids import NETWORK, NETWORK_ACCESS_PROFILE, is_sid
from services.api import audit_routes, forms, pages
from services.api.context import api_of, base_url, by_ref, iso, json_response
from services.api.errors import not_found
from services.api.forms import Param
from services.api.networks import Identifier
from services.api.responses import Pending, answer_created, answer_write, write
from services.audit import PROFILE as PROFILE_KIND

WHAT = "Network Access Profile"


class ProfileLinks(msgspec.Struct):
    networks: str


class NetworkAccessProfile(msgspec.Struct):
    sid: str
    unique_name: str | None
    account_sid: str
    date_created: str
    date_updated: str
    url: str
    links: ProfileLinks


class ProfileNetwork(msgspec.Struct):
    sid: str
    network_access_profile_sid: str
    friendly_name: str
    iso_country: str
    identifiers: list[Identifier]
    url: str


class ProfilePage(msgspec.Struct):
    network_access_profiles: list[NetworkAccessProfile]
    meta: pages.Meta


class ProfileNetworkPage(msgspec.Struct):
    networks: list[ProfileNetwork]
    meta: pages.Meta


_NAME = Param(
    "UniqueName",
    "unique_name",
    "nullable",
    description="Unique per account; not the shape of a Network Access Profile SID",
    max_length=64,
    pattern=forms.UNIQUE_NAME,
)
_NETWORK_SID = "^HW[0-9a-f]{32}$"
CREATE_PARAMS = (
    _NAME,
    Param(
        "Networks",
        "networks",
        "list",
        description="Network SIDs (HW...) of the catalogue",
        pattern=_NETWORK_SID,
    ),
)
UPDATE_PARAMS = (_NAME,)
ADD_NETWORK_PARAMS = (
    Param(
        "Network",
        "network",
        required=True,
        description="A Network SID of the catalogue",
        pattern=_NETWORK_SID,
    ),
)
COLUMNS = "sid, account_sid, unique_name, date_created, date_updated"


def profile_of(row: asyncpg.Record, base: str) -> NetworkAccessProfile:
    url = f"{base}/v1/NetworkAccessProfiles/{row['sid']}"
    return NetworkAccessProfile(
        sid=row["sid"],
        unique_name=row["unique_name"],
        account_sid=row["account_sid"],
        date_created=iso(row["date_created"]),
        date_updated=iso(row["date_updated"]),
        url=url,
        links=ProfileLinks(networks=f"{url}/Networks"),
    )


async def find_profile(db, account_sid: str, ref: str) -> asyncpg.Record | None:
    return await db.fetchrow(
        f"select {COLUMNS} from network_access_profiles "
        f"where account_sid = $1 and {by_ref(NETWORK_ACCESS_PROFILE, ref, 2)}",
        account_sid,
        ref,
    )


async def existing_profile(db, account_sid: str, ref: str) -> asyncpg.Record:
    row = await find_profile(db, account_sid, ref)
    if row is None:
        raise not_found(WHAT, ref)
    return row


# --- the profiles ---------------------------------------------------------------------------


@post("/v1/NetworkAccessProfiles", status_code=201)
async def create_profile(request: Request) -> Response:
    written = await write(
        request, CREATE_PARAMS, lambda values: CreateNetworkAccessProfile(**values)
    )
    path = "/v1/NetworkAccessProfiles"
    return await answer_created(
        request, written, NETWORK_ACCESS_PROFILE, path, find_profile, profile_of
    )


@get("/v1/NetworkAccessProfiles")
async def list_profiles(request: Request) -> Response:
    api = api_of(request)
    account = await api.auth.account_sid(request)
    values = forms.read(forms.query_params(request), pages.PAGE_PARAMS)
    page = pages.page_request(values)
    listing = await pages.fetch_page(
        api.db,
        f"select {COLUMNS} from network_access_profiles",
        ["account_sid = $1"],
        [account],
        page,
    )
    base = base_url(request)
    meta = pages.page_meta(
        base,
        "/v1/NetworkAccessProfiles",
        "network_access_profiles",
        [],
        page,
        listing,
        _position,
    )
    return json_response(ProfilePage([profile_of(r, base) for r in listing.rows], meta))


@get("/v1/NetworkAccessProfiles/{sid:str}")
async def fetch_profile(request: Request, sid: FromPath[str]) -> Response:
    api = api_of(request)
    account = await api.auth.account_sid(request)
    values = forms.read(forms.query_params(request), (audit_routes.AS_OF,))
    if "as_of" in values:
        row = await audit_routes.as_of_row(request, account, PROFILE_KIND, sid, values["as_of"])
    else:
        row = await existing_profile(api.db, account, sid)
    return json_response(profile_of(row, base_url(request)))


@post("/v1/NetworkAccessProfiles/{sid:str}")
async def update_profile(request: Request, sid: FromPath[str]) -> Response:
    api, account, _, result = await write(
        request,
        UPDATE_PARAMS,
        lambda values: UpdateNetworkAccessProfile(network_access_profile=sid, **values),
    )
    # After a rename the old name finds nothing: the event names the profile by SID.
    target = (result.aggregate_ids() or [sid])[0]
    row = await existing_profile(api.db, account, target)
    return answer_write(profile_of(row, base_url(request)), 202 if result.pending else 200)


# --- the Networks of a profile --------------------------------------------------------------

NETWORK_COLUMNS = (
    "n.sid, n.friendly_name, n.iso_country, n.identifiers, "
    "l.network_access_profile_sid, l.date_created as linked_at"
)
NETWORKS_OF_PROFILE = (
    f"select {NETWORK_COLUMNS} from network_access_profile_networks l "
    "join networks n on n.sid = l.network_sid"
)


def profile_network_of(row: asyncpg.Record, base: str) -> ProfileNetwork:
    profile = row["network_access_profile_sid"]
    return ProfileNetwork(
        sid=row["sid"],
        network_access_profile_sid=profile,
        friendly_name=row["friendly_name"],
        iso_country=row["iso_country"],
        identifiers=[Identifier(**i) for i in row["identifiers"]],
        url=f"{base}/v1/NetworkAccessProfiles/{profile}/Networks/{row['sid']}",
    )


async def find_profile_network(db, account: str, profile_sid: str, network_sid: str):
    if not is_sid(NETWORK, network_sid):
        return None
    return await db.fetchrow(
        f"{NETWORKS_OF_PROFILE} where l.account_sid = $1 and l.network_access_profile_sid = $2 "
        "and l.network_sid = $3",
        account,
        profile_sid,
        network_sid,
    )


@post("/v1/NetworkAccessProfiles/{profile:str}/Networks", status_code=201)
async def add_network(request: Request, profile: FromPath[str]) -> Response:
    api, account, values, result = await write(
        request,
        ADD_NETWORK_PARAMS,
        lambda v: AddNetworkToProfile(network_access_profile=profile, network=v["network"]),
    )
    base = base_url(request)
    profile_row = await existing_profile(api.db, account, (result.aggregate_ids() or [profile])[0])
    row = await find_profile_network(api.db, account, profile_row["sid"], values["network"])
    if row is None:
        url = f"{base}/v1/NetworkAccessProfiles/{profile_row['sid']}/Networks/{values['network']}"
        return answer_write(Pending.of(values["network"], account, url), 202)
    # Adding a Network the profile already has creates nothing: 200, like a no-op update.
    status = 202 if result.pending else 201 if result.aggregate_ids() else 200
    return answer_write(profile_network_of(row, base), status)


@get("/v1/NetworkAccessProfiles/{profile:str}/Networks")
async def list_profile_networks(request: Request, profile: FromPath[str]) -> Response:
    api = api_of(request)
    account = await api.auth.account_sid(request)
    values = forms.read(forms.query_params(request), pages.PAGE_PARAMS)
    page = pages.page_request(values)
    profile_row = await existing_profile(api.db, account, profile)
    listing = await pages.fetch_page(
        api.db,
        NETWORKS_OF_PROFILE,
        ["l.account_sid = $1", "l.network_access_profile_sid = $2"],
        [account, profile_row["sid"]],
        page,
        order=("l.date_created", "l.network_sid"),
    )
    base = base_url(request)
    meta = pages.page_meta(
        base,
        f"/v1/NetworkAccessProfiles/{profile_row['sid']}/Networks",
        "networks",
        [],
        page,
        listing,
        lambda row: (row["linked_at"], row["sid"]),
    )
    items = [profile_network_of(r, base) for r in listing.rows]
    return json_response(ProfileNetworkPage(items, meta))


@get("/v1/NetworkAccessProfiles/{profile:str}/Networks/{sid:str}")
async def fetch_profile_network(
    request: Request, profile: FromPath[str], sid: FromPath[str]
) -> Response:
    api = api_of(request)
    account = await api.auth.account_sid(request)
    forms.read(forms.query_params(request), ())
    profile_row = await existing_profile(api.db, account, profile)
    row = await find_profile_network(api.db, account, profile_row["sid"], sid)
    if row is None:
        raise not_found("Network", sid)
    return json_response(profile_network_of(row, base_url(request)))


@delete("/v1/NetworkAccessProfiles/{profile:str}/Networks/{sid:str}", status_code=204)
async def remove_network(
    request: Request, profile: FromPath[str], sid: FromPath[str]
) -> Response[None]:
    *_, result = await write(
        request, (), lambda _: RemoveNetworkFromProfile(network_access_profile=profile, network=sid)
    )
    return Response(b"", status_code=202 if result.pending else 204)


def _position(row: asyncpg.Record):
    return row["date_created"], row["sid"]
