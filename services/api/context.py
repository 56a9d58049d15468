"""What every handler needs, made once per API process, and small helpers they share."""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec
from litestar import Request, Response

from events.sids import is_sid
from services.api.auth import Authenticator
from services.api.db import Database
from services.api.readiness import Readiness
from services.api.writes import Writer
from services.config import Settings
from services.domain.periods import BillingPeriod

_encoder = msgspec.json.Encoder()


class Api:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.db = Database(settings.database_url)
        self.auth = Authenticator(self.db, settings)
        self.writer = Writer(settings, self.db)
        self.billing_period = BillingPeriod.parse(settings.billing_period)
        self.readiness = Readiness(self.writer, self.db)

    async def start(self) -> None:
        await self.db.start()
        await self.writer.start()

    async def stop(self) -> None:
        await self.writer.stop()
        await self.db.stop()


def api_of(request: Request) -> Api:
    return request.app.state.api


def base_url(request: Request) -> str:
    """Where absolute `url`s start: the configured public base URL, else this request's own
    scheme and host."""
    configured = api_of(request).settings.public_base_url
    if configured:
        return configured.rstrip("/")
    return f"{request.url.scheme}://{request.url.netloc}"


def clock() -> datetime:
    """The API's clock, for what depends on the time of the request (a billing period, a
    default EndTime). The read models never do: their times come from the events."""
    return datetime.now(UTC)


def json_response(body: object, status: int = 200) -> Response:
    return Response(_encoder.encode(body), status_code=status, media_type="application/json")


def iso(moment: datetime) -> str:
    """ISO 8601 in UTC with a Z, to the second, as Twilio writes dates."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def by_ref(prefix: str, ref: str, param: int) -> str:
    """The condition that finds a resource by `{Sid}`: its SID when it has the SID shape of
    its type, else its unique name (which may never have that shape, so no ambiguity)."""
    column = "sid" if is_sid(prefix, ref) else "unique_name"
    return f"{column} = ${param}"
