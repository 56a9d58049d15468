"""`GET /v1/SettingsUpdates`: the account's Settings Updates, filtered by Sim (SID or unique
name) and Status, in keyset pages. Read-only: updates are scheduled by the changes that reach
a Sim's settings (services/domain/decide_settings.py), and moved on by the network.
"""

from __future__ import annotations

import asyncpg
import msgspec
from litestar import Request, Response, get

from services.api import forms, pages
from services.api.context import api_of, base_url, iso, json_response
from services.api.filters import check_values, equality_filters
from services.api.forms import Param

PATH = "/v1/SettingsUpdates"
STATUSES = ("scheduled", "in-progress", "successful", "failed")
LIST_FILTERS = (
    Param("Sim", "sim", description="SID or unique name of a Sim"),
    Param("Status", "status", enum=STATUSES),
)
_COLUMNS = "sid, sim_sid, iccid, status, packages, date_completed, date_created, date_updated"


class SettingsPackage(msgspec.Struct):
    name: str  # the Network Access Profile's SID
    version: str  # derived from its Networks
    more_info: str  # the profile's Networks: what the package lets the SIM use


class SettingsUpdate(msgspec.Struct):
    sid: str
    iccid: str
    sim_sid: str
    status: str
    packages: list[SettingsPackage]
    date_completed: str | None
    date_created: str
    date_updated: str


class SettingsUpdatePage(msgspec.Struct):
    settings_updates: list[SettingsUpdate]
    meta: pages.Meta


def settings_update_of(row: asyncpg.Record, base: str) -> SettingsUpdate:
    packages = [
        SettingsPackage(
            name=p["name"],
            version=p["version"],
            more_info=f"{base}/v1/NetworkAccessProfiles/{p['name']}/Networks",
        )
        for p in row["packages"]
    ]
    completed = row["date_completed"]
    return SettingsUpdate(
        sid=row["sid"],
        iccid=row["iccid"],
        sim_sid=row["sim_sid"],
        status=row["status"],
        packages=packages,
        date_completed=None if completed is None else iso(completed),
        date_created=iso(row["date_created"]),
        date_updated=iso(row["date_updated"]),
    )


@get(PATH)
async def list_settings_updates(request: Request) -> Response:
    api = api_of(request)
    account = await api.auth.account_sid(request)
    values = forms.read(forms.query_params(request), (*LIST_FILTERS, *pages.PAGE_PARAMS))
    page = pages.page_request(values)
    check_values(values, LIST_FILTERS)
    where, args, filters = await equality_filters(api.db, account, values, LIST_FILTERS)
    select = f"select {_COLUMNS} from settings_updates"
    listing = await pages.fetch_page(api.db, select, where, args, page)
    base = base_url(request)
    meta = pages.page_meta(base, PATH, "settings_updates", filters, page, listing, _position)
    updates = [settings_update_of(row, base) for row in listing.rows]
    return json_response(SettingsUpdatePage(updates, meta))


def _position(row: asyncpg.Record):
    return row["date_created"], row["sid"]
