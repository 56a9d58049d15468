"""`GET /openapi.json`: OUR OpenAPI 3.1 document, describing exactly what we serve.

It is built from the same things the handlers use, so it cannot drift from them: the `Param`
tables that parse each operation's form or query, and the msgspec Structs each response is
encoded from (their JSON Schemas come from msgspec.json.schema_components). Litestar's own
generator cannot see parameters we parse from raw form bodies, hence this module.
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request, Response, get

from services.api import (
    audit_routes,
    billing_periods,
    device_commands,
    esim_profiles,
    fleets,
    forms,
    ip_addresses,
    networks,
    pages,
    profiles,
    settings_updates,
    sims,
    usage_records,
)
from services.api.errors import ErrorBody
from services.api.forms import FORM, Param
from services.api.responses import Pending

_STRUCTS = (
    fleets.Fleet,
    fleets.FleetPage,
    sims.Sim,
    sims.SimWithDataUsage,
    sims.SimPage,
    usage_records.UsageRecord,
    usage_records.UsageRecordPage,
    profiles.NetworkAccessProfile,
    profiles.ProfilePage,
    profiles.ProfileNetwork,
    profiles.ProfileNetworkPage,
    networks.Network,
    networks.NetworkPage,
    device_commands.SmsCommand,
    device_commands.SmsCommandPage,
    device_commands.IpCommand,
    device_commands.IpCommandPage,
    settings_updates.SettingsUpdate,
    settings_updates.SettingsUpdatePage,
    esim_profiles.EsimProfile,
    esim_profiles.EsimProfilePage,
    Pending,
    ErrorBody,
    audit_routes.ResourceEventPage,
    billing_periods.BillingPeriodResource,
    billing_periods.BillingPeriodPage,
    ip_addresses.SimIpAddress,
    ip_addresses.SimIpAddressPage,
)
_REF = "#/components/schemas/{name}"


def _ref(struct: type) -> dict:
    return {"$ref": _REF.format(name=struct.__name__)}


def _param_schema(param: Param) -> dict[str, Any]:
    if param.kind == "boolean":
        # Form values are text: true/false in any case.
        return {"type": "string", "pattern": "^(?i:true|false)$"}
    if param.kind == "integer":
        bounds = {"minimum": param.minimum, "maximum": param.maximum}
        return {"type": "integer", **{k: v for k, v in bounds.items() if v is not None}}
    if param.kind == "list":
        item = {"type": "string", "pattern": param.pattern or forms.NO_NUL}
        return {"type": "array", "items": item}
    schema: dict[str, Any] = {"type": "string"}
    if param.enum:
        schema["enum"] = list(param.enum)
    if param.format:
        schema["format"] = param.format
    if param.max_length is not None:
        schema["maxLength"] = param.max_length
    if param.pattern:
        schema["pattern"] = param.pattern
    elif not param.enum and not param.format:
        schema["pattern"] = forms.NO_NUL
    if param.kind == "nullable" and param.format:
        # An empty value clears the field (a URL, say), and is no value of the format.
        return {"anyOf": [schema, {"type": "string", "maxLength": 0}]}
    return schema


def _query(params: tuple[Param, ...]) -> list[dict]:
    return [
        {"name": p.name, "in": "query", "schema": _param_schema(p), "description": p.description}
        for p in params
    ]


def _path(*names: str) -> list[dict]:
    return [
        {
            "name": name,
            "in": "path",
            "required": True,
            "schema": {"type": "string"},
            "description": "The SID, or the unique name where the resource has one",
        }
        for name in names
    ]


def _form(params: tuple[Param, ...]) -> dict:
    properties = {p.name: _param_schema(p) | {"description": p.description} for p in params}
    schema: dict[str, Any] = {
        "type": "object",
        "properties": properties,
        "additionalProperties": False,
    }
    required = [p.name for p in params if p.required]
    if required:
        schema["required"] = required
    lists = {p.name: {"style": "form", "explode": True} for p in params if p.kind == "list"}
    content: dict[str, Any] = {"schema": schema}
    if lists:
        content["encoding"] = lists
    return {"required": bool(required), "content": {FORM: content}}


def _json(struct: type | None, description: str) -> dict:
    if struct is None:
        return {"description": description}
    return {"description": description, "content": {"application/json": {"schema": _ref(struct)}}}


_ERRORS = {
    "400": "Invalid parameters (20001), a Sim rule (830xx) or an invalid PageToken (21481)",
    "401": "Missing or wrong credentials (20003)",
    "404": "No such resource in this account (20404)",
    "429": "Too many requests from this client address or account (20429; see Retry-After)",
    "503": "Kafka or PostgreSQL unavailable; nothing was changed (20503)",
}


_WRITE_ERRORS = {
    "413": "The body is larger than 64 KB (20413)",
    "422": "The Idempotency-Key was used for another request (20422)",
}


def _responses(ok: dict[str, dict], conflict: bool = False, write: bool = False) -> dict:
    responses = dict(ok)
    for status, text in (_ERRORS | _WRITE_ERRORS if write else _ERRORS).items():
        responses[status] = _json(ErrorBody, text)
    if conflict:
        responses["409"] = _json(ErrorBody, "A duplicate unique name (20409, 83011)")
    return responses


def _op(op_id: str, summary: str, responses: dict, parameters=(), body=None) -> dict:
    operation: dict[str, Any] = {
        "operationId": op_id,
        "summary": summary,
        "parameters": list(parameters),
        "responses": responses,
    }
    if body is not None:
        operation["requestBody"] = body
    return operation


_IDEMPOTENCY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "schema": {"type": "string", "minLength": 1, "maxLength": 255},
    "description": (
        "The same request again with the same key returns the first answer and changes "
        "nothing; another request with the key is 422 (a key is kept 24 hours by default)"
    ),
}
_ACCEPTED = "Accepted, still being processed: the resource as known now"


def _create(op_id, summary, struct, params, path_params=()) -> dict:
    return _op(
        op_id,
        summary,
        _responses(
            {
                "201": _json(struct, "Created"),
                "200": _json(struct, "Already there: nothing created"),
                "202": {
                    "description": _ACCEPTED,
                    "content": {
                        "application/json": {"schema": {"oneOf": [_ref(struct), _ref(Pending)]}}
                    },
                },
            },
            conflict=True,
            write=True,
        ),
        [*_path(*path_params), _IDEMPOTENCY],
        _form(params),
    )


def _update(op_id, summary, struct, params, path_params=("Sid",)) -> dict:
    return _op(
        op_id,
        summary,
        _responses(
            {"200": _json(struct, "Updated"), "202": _json(struct, _ACCEPTED)},
            conflict=True,
            write=True,
        ),
        [*_path(*path_params), _IDEMPOTENCY],
        _form(params),
    )


def _fetch(op_id, summary, struct, path_params=("Sid",), query=()) -> dict:
    parameters = [*_path(*path_params), *_query(query)]
    return _op(op_id, summary, _responses({"200": _json(struct, "OK")}), parameters)


def _events(op_id: str, what: str) -> dict:
    return _list(
        op_id,
        f"Extension: every event of a {what} in order, with the fields each changed",
        audit_routes.ResourceEventPage,
        path_params=("Sid",),
        page_params=audit_routes.EVENT_PAGE_PARAMS,
    )


def _list(
    op_id, summary, struct, filters=(), path_params=(), page_params=pages.PAGE_PARAMS
) -> dict:
    return _op(
        op_id,
        summary,
        _responses({"200": _json(struct, "One page")}),
        [*_path(*path_params), *_query((*filters, *page_params))],
    )


def build_document() -> dict:
    _, components = msgspec.json.schema_components(_STRUCTS, ref_template=_REF)
    nap = "/v1/NetworkAccessProfiles"
    nap_networks = nap + "/{NetworkAccessProfileSid}/Networks"
    paths = {
        nap: {
            "post": _create(
                "CreateNetworkAccessProfile",
                "Create a Network Access Profile",
                profiles.NetworkAccessProfile,
                profiles.CREATE_PARAMS,
            ),
            "get": _list(
                "ListNetworkAccessProfile",
                "List Network Access Profiles",
                profiles.ProfilePage,
            ),
        },
        nap + "/{Sid}": {
            "get": _fetch(
                "FetchNetworkAccessProfile",
                "Fetch a Network Access Profile",
                profiles.NetworkAccessProfile,
                query=(audit_routes.AS_OF,),
            ),
            "post": _update(
                "UpdateNetworkAccessProfile",
                "Rename a Network Access Profile",
                profiles.NetworkAccessProfile,
                profiles.UPDATE_PARAMS,
            ),
        },
        nap_networks: {
            "post": _create(
                "CreateNetworkAccessProfileNetwork",
                "Add a Network to a Network Access Profile",
                profiles.ProfileNetwork,
                profiles.ADD_NETWORK_PARAMS,
                ("NetworkAccessProfileSid",),
            ),
            "get": _list(
                "ListNetworkAccessProfileNetwork",
                "List the Networks of a Network Access Profile",
                profiles.ProfileNetworkPage,
                path_params=("NetworkAccessProfileSid",),
            ),
        },
        nap_networks + "/{Sid}": {
            "get": _fetch(
                "FetchNetworkAccessProfileNetwork",
                "Fetch a Network of a Network Access Profile",
                profiles.ProfileNetwork,
                ("NetworkAccessProfileSid", "Sid"),
            ),
            "delete": _op(
                "DeleteNetworkAccessProfileNetwork",
                "Remove a Network from a Network Access Profile",
                _responses(
                    {"204": {"description": "Removed"}, "202": {"description": _ACCEPTED}},
                    write=True,
                ),
                [*_path("NetworkAccessProfileSid", "Sid"), _IDEMPOTENCY],
            ),
        },
        "/v1/Networks": {
            "get": _list(
                "ListNetwork",
                "List the Network catalogue",
                networks.NetworkPage,
                networks.LIST_FILTERS,
            )
        },
        "/v1/Networks/{Sid}": {
            "get": _fetch("FetchNetwork", "Fetch a Network of the catalogue", networks.Network)
        },
        "/v1/Fleets": {
            "post": _create("CreateFleet", "Create a Fleet", fleets.Fleet, fleets.CREATE_PARAMS),
            "get": _list("ListFleet", "List Fleets", fleets.FleetPage, fleets.LIST_FILTERS),
        },
        "/v1/Fleets/{Sid}": {
            "get": _fetch("FetchFleet", "Fetch a Fleet", fleets.Fleet, query=(audit_routes.AS_OF,)),
            "post": _update("UpdateFleet", "Update a Fleet", fleets.Fleet, fleets.UPDATE_PARAMS),
        },
        "/v1/Sims": {
            "post": _create("CreateSim", "Register a Sim", sims.Sim, sims.CREATE_PARAMS),
            "get": _list("ListSim", "List Sims", sims.SimPage, sims.LIST_FILTERS),
        },
        "/v1/Fleets/{Sid}/Events": {"get": _events("ListFleetEvent", "Fleet")},
        "/v1/Sims/{Sid}/Events": {"get": _events("ListSimEvent", "Sim")},
        nap + "/{Sid}/Events": {
            "get": _events("ListNetworkAccessProfileEvent", "Network Access Profile")
        },
        "/v1/Sims/{Sid}": {
            "get": _fetch(
                "FetchSim",
                "Fetch a Sim, with its data usage (our extension)",
                sims.SimWithDataUsage,
                query=(audit_routes.AS_OF,),
            ),
            "post": _update("UpdateSim", "Update a Sim", sims.Sim, sims.UPDATE_PARAMS),
        },
        "/v1/Sims/{SimSid}/BillingPeriods": {
            "get": _list(
                "ListBillingPeriod",
                "List the periods a Sim is billed for (ready or active in them)",
                billing_periods.BillingPeriodPage,
                (audit_routes.AS_OF,),
                path_params=("SimSid",),
            )
        },
        "/v1/Sims/{SimSid}/IpAddresses": {
            "get": _list(
                "ListSimIpAddress",
                "List the IP addresses of a Sim (an active Sim's, once allocated)",
                ip_addresses.SimIpAddressPage,
                path_params=("SimSid",),
            )
        },
        "/v1/SmsCommands": {
            "post": _create(
                "CreateSmsCommand",
                "Send an SMS Command to a Sim",
                device_commands.SmsCommand,
                device_commands.SMS_CREATE_PARAMS,
            ),
            "get": _list(
                "ListSmsCommand",
                "List SMS Commands to and from Sims",
                device_commands.SmsCommandPage,
                device_commands.SMS_LIST_FILTERS,
            ),
        },
        "/v1/SmsCommands/{Sid}": {
            "get": _fetch("FetchSmsCommand", "Fetch an SMS Command", device_commands.SmsCommand)
        },
        "/v1/IpCommands": {
            "post": _create(
                "CreateIpCommand",
                "Send an IP Command to a Sim",
                device_commands.IpCommand,
                device_commands.IP_CREATE_PARAMS,
            ),
            "get": _list(
                "ListIpCommand",
                "List IP Commands to and from Sims",
                device_commands.IpCommandPage,
                device_commands.IP_LIST_FILTERS,
            ),
        },
        "/v1/IpCommands/{Sid}": {
            "get": _fetch("FetchIpCommand", "Fetch an IP Command", device_commands.IpCommand)
        },
        esim_profiles.PATH: {
            "post": _create(
                "CreateEsimProfile",
                "Order an eSIM Profile (Eid, or GenerateMatchingId=true)",
                esim_profiles.EsimProfile,
                esim_profiles.CREATE_PARAMS,
            ),
            "get": _list(
                "ListEsimProfile",
                "List eSIM Profiles",
                esim_profiles.EsimProfilePage,
                esim_profiles.LIST_FILTERS,
            ),
        },
        esim_profiles.PATH + "/{Sid}": {
            "get": _fetch("FetchEsimProfile", "Fetch an eSIM Profile", esim_profiles.EsimProfile)
        },
        settings_updates.PATH: {
            "get": _list(
                "ListSettingsUpdate",
                "List the Settings Updates sent to Sims when their settings changed",
                settings_updates.SettingsUpdatePage,
                settings_updates.LIST_FILTERS,
            )
        },
        usage_records.PATH: {
            "get": _list(
                "ListUsageRecord",
                "List UsageRecords: data usage by period, filtered and grouped",
                usage_records.UsageRecordPage,
                usage_records.QUERY_PARAMS,
                page_params=usage_records.PAGE_PARAMS,
            )
        },
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "fleetstate: Twilio Super SIM v1 compatible API",
            "version": "1.0.0",
        },
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {"accountSid_authToken": {"type": "http", "scheme": "basic"}},
        },
        "security": [{"accountSid_authToken": []}],
    }


_DOCUMENT: bytes | None = None


@get("/openapi.json", include_in_schema=False)
async def openapi_document(request: Request) -> Response:
    global _DOCUMENT
    if _DOCUMENT is None:
        _DOCUMENT = msgspec.json.encode(build_document())
    return Response(_DOCUMENT, media_type="application/json")
