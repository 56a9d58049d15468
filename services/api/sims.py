"""Sims, `/v1/Sims`: register (create), fetch (with `data_usage`: sim_data_usage.py), list
(Status, Fleet, Iccid), update.

A status or Fleet change still being processed when the write's wait ends is answered 202 with
`status: scheduled` (contract, Sim rule 5): the change is on its way, not yet in effect.
"""

from __future__ import annotations

import asyncpg
import msgspec
from litestar import Request, Response, get, post
from litestar.params import FromPath

from events.commands import RegisterSim, UpdateSim
from events.sids import FLEET, SIM
from services.api import audit_routes, forms, pages
from services.api.context import api_of, base_url, by_ref, iso, json_response
from services.api.errors import invalid, not_found
from services.api.forms import Param
from services.api.responses import answer_created, answer_write, write
from services.api.sim_data_usage import SimDataUsage, sim_with_data_usage
from services.audit import SIM as SIM_KIND

STATUSES = ("new", "ready", "active", "inactive", "scheduled")
# The events that make a status or Fleet change: pending ones make the Sim `scheduled`.
_SCHEDULING_EVENTS = {"SimStatusChanged", "SimAssignedToFleet"}


class SimLinks(msgspec.Struct, omit_defaults=True):
    fleet: str | None = None  # the Sim's Fleet, when it has one


class Sim(msgspec.Struct):
    sid: str
    unique_name: str | None
    account_sid: str
    iccid: str
    status: str
    fleet_sid: str | None
    date_created: str
    date_updated: str
    url: str
    links: SimLinks


class SimWithDataUsage(Sim):
    """A fetched Sim: Twilio's properties and `data_usage`, fleetstate's extension (the fetch
    only, not lists)."""

    data_usage: SimDataUsage | None  # null with AsOf: usage is not in the Sim's event history


class SimPage(msgspec.Struct):
    sims: list[Sim]
    meta: pages.Meta


CREATE_PARAMS = (
    # Not required here: a missing one is the decider's 83001, not a generic 20001.
    Param("Iccid", "iccid", description="ICCID of a SIM card of the inventory"),
    Param("RegistrationCode", "registration_code", description="Its 10-character code"),
)
UPDATE_PARAMS = (
    Param(
        "UniqueName",
        "unique_name",
        "nullable",
        description="Unique per account; not the shape of a Sim SID",
        max_length=64,
        pattern=forms.UNIQUE_NAME,
    ),
    Param("Status", "status", enum=("ready", "active", "inactive")),
    Param("Fleet", "fleet", "nullable", description="SID or unique name; empty unassigns"),
    Param("CallbackUrl", "callback_url", format="uri"),
    Param("CallbackMethod", "callback_method", enum=("GET", "POST")),
    Param(
        "AccountSid",
        "account",
        description="Move the Sim (status new) to this Account or one of its subaccounts",
    ),
)
LIST_FILTERS = (
    Param("Status", "status", enum=STATUSES),
    Param("Fleet", "fleet", description="SID or unique name of a Fleet"),
    Param("Iccid", "iccid"),
)
COLUMNS = "sid, account_sid, unique_name, iccid, status, fleet_sid, date_created, date_updated"


def sim_of(row: asyncpg.Record, base: str, status: str | None = None) -> Sim:
    fleet = row["fleet_sid"]
    return Sim(
        sid=row["sid"],
        unique_name=row["unique_name"],
        account_sid=row["account_sid"],
        iccid=row["iccid"],
        status=status or row["status"],
        fleet_sid=fleet,
        date_created=iso(row["date_created"]),
        date_updated=iso(row["date_updated"]),
        url=f"{base}/v1/Sims/{row['sid']}",
        links=SimLinks(fleet=f"{base}/v1/Fleets/{fleet}" if fleet else None),
    )


async def find_sim(db, account_sid: str, ref: str) -> asyncpg.Record | None:
    return await db.fetchrow(
        f"select {COLUMNS} from sims where account_sid = $1 and {by_ref(SIM, ref, 2)}",
        account_sid,
        ref,
    )


@post("/v1/Sims", status_code=201)
async def register_sim(request: Request) -> Response:
    written = await write(request, CREATE_PARAMS, lambda values: RegisterSim(**values))
    return await answer_created(request, written, SIM, "/v1/Sims", find_sim, sim_of)


@get("/v1/Sims")
async def list_sims(request: Request) -> Response:
    api = api_of(request)
    account = await api.auth.account_sid(request)
    values = forms.read(forms.query_params(request), (*LIST_FILTERS, *pages.PAGE_PARAMS))
    page = pages.page_request(values)
    if values.get("status", STATUSES[0]) not in STATUSES:
        raise invalid(f"Status must be one of {', '.join(STATUSES)}")
    where, args = ["account_sid = $1"], [account]
    filters = []
    if "status" in values:
        args.append(values["status"])
        where.append(f"status = ${len(args)}")
        filters.append(("Status", values["status"]))
    if "fleet" in values:
        # A filter, not a reference: an unknown Fleet simply matches no Sim.
        fleet_sid = await api.db.fetchval(
            "select sid from fleets where account_sid = $1 and "
            + by_ref(FLEET, values["fleet"], 2),
            account,
            values["fleet"],
        )
        args.append(fleet_sid or "")
        where.append(f"fleet_sid = ${len(args)}")
        filters.append(("Fleet", values["fleet"]))
    if "iccid" in values:
        args.append(values["iccid"])
        where.append(f"iccid = ${len(args)}")
        filters.append(("Iccid", values["iccid"]))
    listing = await pages.fetch_page(api.db, f"select {COLUMNS} from sims", where, args, page)
    base = base_url(request)
    meta = pages.page_meta(base, "/v1/Sims", "sims", filters, page, listing, _position)
    return json_response(SimPage([sim_of(r, base) for r in listing.rows], meta))


@get("/v1/Sims/{sid:str}")
async def fetch_sim(request: Request, sid: FromPath[str]) -> Response:
    api = api_of(request)
    account = await api.auth.account_sid(request)
    values = forms.read(forms.query_params(request), (audit_routes.AS_OF,))
    if "as_of" in values:
        # The Sim as the log had it then; usage is not part of that history: null.
        row = await audit_routes.as_of_row(request, account, SIM_KIND, sid, values["as_of"])
        usage = None
    else:
        found = await sim_with_data_usage(api, account, sid)
        row, usage = found if found is not None else (None, None)
    if row is None:
        raise not_found("Sim", sid)
    sim = sim_of(row, base_url(request))
    return json_response(SimWithDataUsage(**msgspec.structs.asdict(sim), data_usage=usage))


@post("/v1/Sims/{sid:str}")
async def update_sim(request: Request, sid: FromPath[str]) -> Response:
    api, account, values, result = await write(
        request, UPDATE_PARAMS, lambda values: UpdateSim(sim=sid, **values)
    )
    target = (result.aggregate_ids() or [sid])[0]  # a rename leaves the old name behind
    row = await find_sim(api.db, account, target)
    if row is None and values.get("account"):  # moved: it is the subaccount's now
        row = await find_sim(api.db, values["account"], target)
    if row is None:
        raise not_found("Sim", sid)
    if not result.pending:
        return answer_write(sim_of(row, base_url(request)), 200)
    asked = "status" in values or "fleet" in values
    scheduling = result.outcome is None or result.event_types() & _SCHEDULING_EVENTS
    status = "scheduled" if asked and scheduling else None
    return answer_write(sim_of(row, base_url(request), status), 202)


def _position(row: asyncpg.Record):
    return row["date_created"], row["sid"]
