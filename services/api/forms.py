"""Request parameters: form bodies and query strings with Twilio's PascalCase names.

The API checks only the shape of what it is given (known names, one value per scalar, the type
of booleans and integers); whether a value is allowed is the decider's business, so every rule
and its error code live in one place. One table of `Param`s per operation drives both the
parsing here and the parameters `/openapi.json` publishes.
"""

from __future__ import annotations

import re
from typing import Any, Literal
from urllib.parse import parse_qsl

import msgspec
from litestar import Request

from services.api.errors import ApiError, invalid
from services.echo import capped, shown_list

Kind = Literal["string", "nullable", "boolean", "integer", "list"]
FORM = "application/x-www-form-urlencoded"
MAX_FIELDS = 200
_INTEGER = re.compile(r"[+-]?[0-9]{1,18}")  # within int64: the command codec's range
# Patterns /openapi.json gives text parameters. No parameter may hold NUL (parse_pairs refuses
# it: PostgreSQL text cannot store it), so a text without a pattern of its own gets NO_NUL.
NO_NUL = "^[^\\x00]*$"
NOT_EMPTY = "^[^\\x00]+$"
# A unique name as services/domain/rules.py takes it: no "/", tab, CR, LF or NUL, and no space
# at either end (every character str.strip() removes, listed so that the pattern means the same
# in every regex dialect); empty clears the name.
_SPACE = (
    "\\t\\n\\v\\f\\r \\x1c-\\x1f\\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000"
)
_EDGE = f"[^{_SPACE}/\\x00]"
UNIQUE_NAME = f"^(?:{_EDGE}(?:[^\\t\\n\\r/\\x00]*{_EDGE})?)?$"


class Param(msgspec.Struct, frozen=True):
    name: str  # on the wire: PascalCase
    field: str  # in the command or the query: snake_case
    kind: Kind = "string"
    required: bool = False
    description: str = ""
    enum: tuple[str, ...] = ()  # documented in the OpenAPI; enforced by the decider
    format: str = ""  # documented in the OpenAPI, e.g. "uri"
    # Also only documented (so generated clients and fuzzers know them); the decider enforces.
    minimum: int | None = None
    maximum: int | None = None
    max_length: int | None = None
    pattern: str = ""  # a regular expression the whole value matches


Params = dict[str, list[str]]


def parse_pairs(text: str) -> Params:
    try:
        pairs = parse_qsl(text, keep_blank_values=True, max_num_fields=MAX_FIELDS)
    except ValueError as exc:  # too many fields
        raise invalid(f"Invalid parameters: {exc}") from None
    params: Params = {}
    for name, value in pairs:
        # PostgreSQL text cannot hold NUL: a filter with one fails its query, and a name with
        # one would be an event the projector can never write.
        if "\x00" in name or "\x00" in value:
            raise invalid("Parameters may not contain NUL characters")
        params.setdefault(name, []).append(value)
    return params


def query_params(request: Request) -> Params:
    raw = request.scope.get("query_string", b"")
    try:
        return parse_pairs(raw.decode("utf-8")) if raw else {}
    except UnicodeDecodeError:
        raise invalid("The query string is not valid UTF-8") from None


async def form_params(request: Request) -> Params:
    """The body of a write: form-encoded, or empty. Query parameters are not accepted on
    writes (Twilio reads only the body), so they are reported as unknown."""
    if request.scope.get("query_string"):
        unknown = sorted(query_params(request))
        raise invalid(f"Unknown query parameters on a write: {shown_list(unknown)}")
    body = await request.body()
    if not body:
        return {}
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type != FORM:
        raise ApiError(
            400, 20001, f"Parameters must be sent as {FORM}, not {capped(media_type) or 'no type'}"
        )
    try:
        return parse_pairs(body.decode("utf-8"))
    except UnicodeDecodeError:
        raise invalid("The request body is not valid UTF-8") from None


def _convert(param: Param, values: list[str]) -> Any:
    if param.kind == "list":
        return values
    if len(values) > 1:
        raise invalid(f"{param.name} was given more than once")
    [value] = values
    if param.kind == "boolean":
        lowered = value.lower()
        if lowered not in ("true", "false"):
            raise invalid(f"{param.name} must be true or false")
        return lowered == "true"
    if param.kind == "integer":
        if not _INTEGER.fullmatch(value):
            raise invalid(f"{param.name} must be an integer")
        return int(value)
    if param.kind == "nullable" and value == "":
        return None  # an empty value clears the field
    return value


def read(params: Params, spec: tuple[Param, ...]) -> dict[str, Any]:
    """{field: value} for the parameters given; 20001 naming any unknown or missing one."""
    by_name = {p.name: p for p in spec}
    unknown = sorted(name for name in params if name not in by_name)
    if unknown:
        raise invalid(f"Unknown parameters: {shown_list(unknown)}")
    missing = [p.name for p in spec if p.required and p.name not in params]
    if missing:
        raise invalid(f"Missing required parameters: {', '.join(missing)}")
    return {by_name[name].field: _convert(by_name[name], values) for name, values in params.items()}
