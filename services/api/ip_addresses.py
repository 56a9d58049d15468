"""`GET /v1/Sims/{SimSid}/IpAddresses`: the address the network gives an active Sim.

Read from `sim_ip_addresses` (migrations/0010), which the projector writes from the Sim's
SimIpAddressAssigned and SimIpAddressReleased events: an active Sim has one address once the
address registry allocated it (services/domain/decide_ip.py), a Sim of any other status none.
Keyset pages like every list; the key is a SID derived from the Sim and the address, which the
resource does not show (Twilio's has only the address and its version).
"""

from __future__ import annotations

from typing import Literal

import msgspec
from litestar import Request, Response, get
from litestar.params import FromPath

from events.sids import SIM
from services.api import forms, pages
from services.api.context import api_of, base_url, by_ref, json_response
from services.api.errors import not_found


class SimIpAddress(msgspec.Struct):
    ip_address: str | None
    ip_address_version: Literal["IPv4", "IPv6"]


class SimIpAddressPage(msgspec.Struct):
    ip_addresses: list[SimIpAddress]
    meta: pages.Meta


PAGE_PARAMS = pages.PAGE_PARAMS


@get("/v1/Sims/{sid:str}/IpAddresses")
async def list_sim_ip_addresses(request: Request, sid: FromPath[str]) -> Response:
    api = api_of(request)
    account = await api.auth.account_sid(request)
    values = forms.read(forms.query_params(request), PAGE_PARAMS)
    page = pages.page_request(values)
    sim_sid = await api.db.fetchval(
        "select sid from sims where account_sid = $1 and " + by_ref(SIM, sid, 2), account, sid
    )
    if sim_sid is None:
        raise not_found("Sim", sid)
    listing = await pages.fetch_page(
        api.db,
        "select ip_address, ip_address_version, date_created, sid from sim_ip_addresses",
        ["account_sid = $1", "sim_sid = $2"],
        [account, sim_sid],
        page,
    )
    rows = [SimIpAddress(r["ip_address"], r["ip_address_version"]) for r in listing.rows]
    path = f"/v1/Sims/{sim_sid}/IpAddresses"  # the SID: a rename does not move the pages
    meta = pages.page_meta(
        base_url(request),
        path,
        "ip_addresses",
        [],
        page,
        listing,
        lambda row: (row["date_created"], row["sid"]),
    )
    return json_response(SimIpAddressPage(rows, meta))
