"""Device commands: `/v1/SmsCommands` and `/v1/IpCommands`: send (create), fetch, list
(Sim, Status, Direction; IpCommands also SimIccid).

A send is answered once the command is queued in the log: its delivery to the device is the
network's, reported later as status changes (and to CallbackUrl).
"""

from __future__ import annotations

from typing import Any

import asyncpg
import msgspec
from litestar import Request, Response, get, post
from litestar.params import FromPath

from events.commands import SendIpCommand, SendSmsCommand
from events.sids import IP_COMMAND, SMS_COMMAND, is_sid
from services.api import forms, pages
from services.api.context import api_of, base_url, iso, json_response
from services.api.errors import not_found
from services.api.filters import check_values, equality_filters
from services.api.forms import Param
from services.api.responses import answer_created, write

SMS_STATUSES = ("queued", "sent", "delivered", "received", "failed")
IP_STATUSES = ("queued", "sent", "received", "failed")
DIRECTIONS = ("to_sim", "from_sim")


class SmsCommand(msgspec.Struct):
    sid: str
    account_sid: str
    sim_sid: str
    payload: str
    status: str
    direction: str
    date_created: str
    date_updated: str
    url: str


class IpCommand(msgspec.Struct):
    sid: str
    account_sid: str
    sim_sid: str
    sim_iccid: str
    status: str
    direction: str
    device_ip: str | None
    device_port: int
    payload_type: str
    payload: str
    date_created: str
    date_updated: str
    url: str


class SmsCommandPage(msgspec.Struct):
    sms_commands: list[SmsCommand]
    meta: pages.Meta


class IpCommandPage(msgspec.Struct):
    ip_commands: list[IpCommand]
    meta: pages.Meta


_SIM = Param(
    "Sim",
    "sim",
    required=True,
    description="SID or unique name of the Sim to send it to",
    pattern=forms.NOT_EMPTY,
)
_CALLBACK = (
    Param("CallbackUrl", "callback_url", format="uri", description="Called on status changes"),
    Param("CallbackMethod", "callback_method", enum=("GET", "POST")),
)
# Required as in Twilio's contract; a command sent on the bus without them is refused by the
# decider, which says the same.
SMS_CREATE_PARAMS = (
    _SIM,
    Param(
        "Payload",
        "payload",
        required=True,
        description="The SMS body, at most 160 characters",
        max_length=160,
        pattern=forms.NOT_EMPTY,
    ),
    *_CALLBACK,
)
IP_CREATE_PARAMS = (
    _SIM,
    Param(
        "Payload",
        "payload",
        required=True,
        description="UTF-8 text, or base64 for binary; at most 1300 bytes",
        pattern=forms.NOT_EMPTY,
    ),
    Param("DevicePort", "device_port", "integer", required=True, minimum=1, maximum=65535),
    Param("PayloadType", "payload_type", enum=("text", "binary")),
    *_CALLBACK,
)
_DIRECTION = Param("Direction", "direction", enum=DIRECTIONS)
SMS_LIST_FILTERS = (
    Param("Sim", "sim", description="SID or unique name of a Sim"),
    Param("Status", "status", enum=SMS_STATUSES),
    _DIRECTION,
)
IP_LIST_FILTERS = (
    Param("Sim", "sim", description="SID or unique name of a Sim"),
    Param("SimIccid", "sim_iccid"),
    Param("Status", "status", enum=IP_STATUSES),
    _DIRECTION,
)
_SMS_COLUMNS = "sid, account_sid, sim_sid, payload, status, direction, date_created, date_updated"
_IP_COLUMNS = (
    "sid, account_sid, sim_sid, sim_iccid, status, direction, device_ip, device_port, "
    "payload_type, payload, date_created, date_updated"
)


def sms_command_of(row: asyncpg.Record, base: str) -> SmsCommand:
    return SmsCommand(**_common(row), url=f"{base}/v1/SmsCommands/{row['sid']}")


def ip_command_of(row: asyncpg.Record, base: str) -> IpCommand:
    return IpCommand(
        **_common(row),
        sim_iccid=row["sim_iccid"],
        device_ip=row["device_ip"],
        device_port=row["device_port"],
        payload_type=row["payload_type"],
        url=f"{base}/v1/IpCommands/{row['sid']}",
    )


def _common(row: asyncpg.Record) -> dict[str, Any]:
    return {
        "sid": row["sid"],
        "account_sid": row["account_sid"],
        "sim_sid": row["sim_sid"],
        "payload": row["payload"],
        "status": row["status"],
        "direction": row["direction"],
        "date_created": iso(row["date_created"]),
        "date_updated": iso(row["date_updated"]),
    }


async def find_sms_command(db, account_sid: str, sid: str) -> asyncpg.Record | None:
    if not is_sid(SMS_COMMAND, sid):
        return None
    query = f"select {_SMS_COLUMNS} from sms_commands where account_sid = $1 and sid = $2"
    return await db.fetchrow(query, account_sid, sid)


async def find_ip_command(db, account_sid: str, sid: str) -> asyncpg.Record | None:
    if not is_sid(IP_COMMAND, sid):
        return None
    query = f"select {_IP_COLUMNS} from ip_commands where account_sid = $1 and sid = $2"
    return await db.fetchrow(query, account_sid, sid)


@post("/v1/SmsCommands", status_code=201)
async def send_sms_command(request: Request) -> Response:
    written = await write(request, SMS_CREATE_PARAMS, lambda values: SendSmsCommand(**values))
    return await answer_created(
        request, written, SMS_COMMAND, "/v1/SmsCommands", find_sms_command, sms_command_of
    )


@post("/v1/IpCommands", status_code=201)
async def send_ip_command(request: Request) -> Response:
    written = await write(request, IP_CREATE_PARAMS, lambda values: SendIpCommand(**values))
    return await answer_created(
        request, written, IP_COMMAND, "/v1/IpCommands", find_ip_command, ip_command_of
    )


@get("/v1/SmsCommands/{sid:str}")
async def fetch_sms_command(request: Request, sid: FromPath[str]) -> Response:
    return await _fetch(request, sid, "SmsCommand", find_sms_command, sms_command_of)


@get("/v1/IpCommands/{sid:str}")
async def fetch_ip_command(request: Request, sid: FromPath[str]) -> Response:
    return await _fetch(request, sid, "IpCommand", find_ip_command, ip_command_of)


@get("/v1/SmsCommands")
async def list_sms_commands(request: Request) -> Response:
    listing, base, page, filters = await _list(
        request, "sms_commands", _SMS_COLUMNS, SMS_LIST_FILTERS
    )
    meta = pages.page_meta(
        base, "/v1/SmsCommands", "sms_commands", filters, page, listing, _position
    )
    return json_response(SmsCommandPage([sms_command_of(r, base) for r in listing.rows], meta))


@get("/v1/IpCommands")
async def list_ip_commands(request: Request) -> Response:
    listing, base, page, filters = await _list(request, "ip_commands", _IP_COLUMNS, IP_LIST_FILTERS)
    meta = pages.page_meta(base, "/v1/IpCommands", "ip_commands", filters, page, listing, _position)
    return json_response(IpCommandPage([ip_command_of(r, base) for r in listing.rows], meta))


async def _fetch(request: Request, sid: str, what: str, find, render) -> Response:
    api = api_of(request)
    account = await api.auth.account_sid(request)
    forms.read(forms.query_params(request), ())
    row = await find(api.db, account, sid)
    if row is None:
        raise not_found(what, sid)
    return json_response(render(row, base_url(request)))


async def _list(request: Request, table: str, columns: str, spec):
    """One page of the account's commands with the filters given; (listing, base URL, the
    page request, the filters as given) for the page's meta."""
    api = api_of(request)
    account = await api.auth.account_sid(request)
    values = forms.read(forms.query_params(request), (*spec, *pages.PAGE_PARAMS))
    page = pages.page_request(values)
    check_values(values, spec)
    where, args, filters = await equality_filters(api.db, account, values, spec)
    listing = await pages.fetch_page(api.db, f"select {columns} from {table}", where, args, page)
    return listing, base_url(request), page, filters


def _position(row: asyncpg.Record):
    return row["date_created"], row["sid"]
