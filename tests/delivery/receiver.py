"""A customer's webhook endpoint for the tests: a real aiohttp server on 127.0.0.1, on a port of
its own, recording what it received as the customer's code would see it."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class Received:
    method: str
    url: str  # scheme://Host header + the path and query exactly as they came on the wire
    headers: dict[str, str]
    form: dict[str, str]


async def ok(request: web.Request) -> web.StreamResponse:
    return web.Response(text="ok")


@dataclass
class Receiver:
    handler: Handler = ok
    received: list[Received] = field(default_factory=list)
    in_flight: int = 0
    most_in_flight: int = 0
    # Set by the test to let held requests (`hold`) answer; set at stop, so none outlives it.
    release: asyncio.Event = field(default_factory=asyncio.Event)
    port: int = 0
    ssl_context: ssl.SSLContext | None = None  # https with it
    _runner: web.AppRunner | None = None
    _changed: asyncio.Condition = field(default_factory=asyncio.Condition)

    async def start(self) -> Receiver:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0, ssl_context=self.ssl_context)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self

    async def stop(self) -> None:
        self.release.set()
        if self._runner is not None:
            await self._runner.cleanup()

    def url(self, path: str = "/hook", host: str = "127.0.0.1") -> str:
        scheme = "http" if self.ssl_context is None else "https"
        return f"{scheme}://{host}:{self.port}{path}"

    async def wait_for(self, predicate: Callable[[Receiver], bool]) -> None:
        """Until `predicate(self)` holds (checked whenever a request arrives or ends)."""
        async with self._changed:
            await self._changed.wait_for(lambda: predicate(self))

    async def hold(self, request: web.Request) -> web.StreamResponse:
        """A handler that answers only once the test sets `release`."""
        await self.release.wait()
        return web.Response(text="released")

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        form = await request.post() if request.method == "POST" else {}
        self.received.append(
            Received(
                request.method,
                f"{request.scheme}://{request.host}{request.raw_path}",
                dict(request.headers),
                {name: str(value) for name, value in form.items()},
            )
        )
        await self._moved(+1)
        try:
            return await self.handler(request)
        finally:
            await self._moved(-1)

    async def _moved(self, by: int) -> None:
        async with self._changed:
            self.in_flight += by
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
            self._changed.notify_all()
