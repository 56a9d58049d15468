"""Operations of Twilio's Super SIM v1 that fleetstate does not serve (yet): each answers
501 with code 20501 and says what and why, never the bare 404 a client cannot tell from "no
such resource" (twilio-python's list then failed with a codeless "Unable to fetch page").

The credentials are checked first, as on every operation: a stranger learns nothing here.
"""

from __future__ import annotations

from litestar import Request, Response, route
from litestar.enums import HttpMethod

from services.api.context import api_of
from services.api.errors import error_response

NOT_SERVED_CODE = 20501

# (path as Litestar routes it, methods, why): remove an entry when its operation is served.
UNSERVED: list[tuple[str, tuple[str, ...], str]] = []


def _handler(path: str, methods: tuple[str, ...], why: str):
    @route(
        path,
        http_method=[HttpMethod(m) for m in methods],
        include_in_schema=False,
        name=f"unserved:{path}",
    )
    async def unserved(request: Request) -> Response:
        await api_of(request).auth.account_sid(request)
        return error_response(501, NOT_SERVED_CODE, f"Not implemented: {why}")

    return unserved


ROUTES = [_handler(*entry) for entry in UNSERVED]
