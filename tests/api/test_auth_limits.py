"""Hardened edges of authentication: a rotated token and a closed account stop working within
the stated bound (projection lag + FLEETSTATE_API_AUTH_CACHE_SECONDS), and token buckets answer
429 20429 with Retry-After before a query is run or a command sent.

The rotation and closing tests use the shared stack's API process, steadily, as a client
would. The rate-limit tests run the same app in this process (the shared stack's database,
settings of their own) with a Database that counts its queries, and from client addresses of
their own, so no other test shares their buckets.
"""

from __future__ import annotations

import asyncio
import time

import httpx
import msgspec
import pytest

from events.commands import CreateNetworkAccessProfile
from services.api.app import create_app
from services.api.db import Database
from services.config import Settings
from services.operator import close_account, command_client, rotate_auth_token
from tests.api.support import assert_error

STEADY = 0.05  # seconds between a steady client's requests


async def refused_after(http: httpx.AsyncClient, auth: tuple[str, str], limit: float) -> float:
    """Uses `auth` steadily until it gets 401; the seconds that took (fails after `limit`)."""
    start = time.monotonic()
    while True:
        response = await http.get("/v1/Fleets", auth=auth)
        if response.status_code == 401:
            assert_error(response, 401, 20003)
            return time.monotonic() - start
        assert response.status_code == 200, response.text
        assert time.monotonic() - start < limit, f"{auth[0]} still accepted after {limit} s"
        await asyncio.sleep(STEADY)


async def test_a_rotated_token_is_refused_within_the_stated_bound_and_the_new_one_works(
    stack, account
):
    bound = stack.settings.api_auth_cache_seconds
    old = (account.sid, account.token)
    async with httpx.AsyncClient(base_url=stack.base_url, timeout=30) as http:
        for _ in range(20):  # steady use: the old hash is cached, and stays so on every hit
            assert (await http.get("/v1/Fleets", auth=old)).status_code == 200
            await asyncio.sleep(STEADY)
        new_token = await rotate_auth_token(stack.settings, account.sid)  # projected on return
        assert new_token != account.token and len(new_token) == 32
        # The new token works at once; the old one within the cache time (plus a request).
        assert (await http.get("/v1/Fleets", auth=(account.sid, new_token))).status_code == 200
        await refused_after(http, old, bound + 1.0)
        assert (await http.get("/v1/Fleets", auth=(account.sid, new_token))).status_code == 200


async def test_a_closed_account_gets_401_and_its_commands_are_refused(stack, account):
    bound = stack.settings.api_auth_cache_seconds
    auth = (account.sid, account.token)
    async with httpx.AsyncClient(base_url=stack.base_url, timeout=30) as http:
        assert (await http.get("/v1/Fleets", auth=auth)).status_code == 200
        await close_account(stack.settings, account.sid)  # projected on return
        await refused_after(http, auth, bound + 1.0)
        assert_error(await http.post("/v1/Fleets", auth=auth, data={}), 401, 20003)
    # Another service on the bus is refused too, saying why.
    async with command_client(stack.settings) as client:
        outcome = await client.execute(
            CreateNetworkAccessProfile(), account_sid=account.sid, timeout=30
        )
    assert (outcome.rejection.http_status, outcome.rejection.code) == (404, 20404)
    assert "closed" in outcome.rejection.message


async def test_cli_rotates_a_token_printing_it_once_and_closes_an_account(stack, account):
    from tests.api.test_operator_tools import fleetstate

    code, out, _ = await fleetstate(stack, "accounts", "rotate-token", account.sid)
    assert code == 0
    token = out.split("Auth Token")[1].strip()
    async with httpx.AsyncClient(base_url=stack.base_url, timeout=30) as http:
        assert (await http.get("/v1/Fleets", auth=(account.sid, token))).status_code == 200
        code, out, _ = await fleetstate(stack, "accounts", "close", account.sid)
        assert code == 0 and "closed" in out
        await refused_after(http, (account.sid, token), stack.settings.api_auth_cache_seconds + 1)
    code, _, err = await fleetstate(stack, "accounts", "close", account.sid)
    assert code == 1 and "404 20404" in err and "closed" in err


# --- rate limits ---------------------------------------------------------------------------


class CountingDatabase(Database):
    """The real Database, counting the queries it runs."""

    queries = 0

    async def _run(self, method, sql, args):
        self.queries += 1
        return await super()._run(method, sql, args)


@pytest.fixture
async def in_process(stack):
    """make(**settings) -> (app, its counting database): the API app in this process."""
    made: list[Database] = []

    def make(**changes):
        app = create_app(msgspec.structs.replace(stack.settings, **changes))
        api = app.state.api
        api.db = api.auth.db = CountingDatabase(stack.settings.database_url)
        made.append(api.db)
        return app, api.db

    yield make
    for db in made:
        await db.stop()


def client_at(app, address: str, auth=None) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(address, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver", auth=auth)


def assert_too_many(response: httpx.Response) -> None:
    assert_error(response, 429, 20429)
    assert int(response.headers["Retry-After"]) >= 1


async def test_300_wrong_tokens_are_mostly_refused_429_before_any_query(stack, account, in_process):
    defaults = Settings()  # the limits a deployment gets unless it sets them
    app, db = in_process(
        api_failed_logins_burst=defaults.api_failed_logins_burst,
        api_failed_logins_per_second=defaults.api_failed_logins_per_second,
    )
    settings = app.state.api.settings
    start = time.monotonic()
    async with client_at(app, "198.51.100.7") as http:
        answers = [
            await http.get("/v1/Fleets", auth=(account.sid, f"wrong{i}")) for i in range(300)
        ]
        # That address is held off even with the right token; another address is not.
        assert_too_many(await http.get("/v1/Fleets", auth=(account.sid, account.token)))
    elapsed = time.monotonic() - start
    async with client_at(app, "198.51.100.8", auth=(account.sid, account.token)) as other:
        assert (await other.get("/v1/Fleets")).status_code == 200
    statuses = [r.status_code for r in answers]
    assert set(statuses) == {401, 429}
    for response in answers:
        if response.status_code == 429:
            assert_too_many(response)
    # Only failed logins the bucket allowed reached the database: its burst plus its refill.
    allowed = settings.api_failed_logins_burst + elapsed * settings.api_failed_logins_per_second
    assert statuses.count(401) <= allowed + 1
    assert db.queries <= allowed + 1 + 2  # + the right token's read on the other address
    assert db.queries < 50


async def test_an_address_over_its_limit_gets_429_before_auth_queries(stack, account, in_process):
    app, db = in_process(api_rate_per_address=0.1, api_burst_per_address=5)
    async with client_at(app, "198.51.100.20", auth=(account.sid, account.token)) as http:
        for _ in range(5):
            assert (await http.get("/v1/Fleets")).status_code == 200
        queries = db.queries
        for _ in range(20):
            assert_too_many(await http.get("/v1/Fleets"))
        assert_too_many(await http.post("/v1/Fleets", data={"NetworkAccessProfile": "x"}))
        assert db.queries == queries  # refused before auth, before any read or command


async def test_an_account_over_its_limit_gets_429_from_any_address(stack, account, in_process):
    app, db = in_process(api_rate_per_account=0.1, api_burst_per_account=3)
    auth = (account.sid, account.token)
    for i in range(3):
        async with client_at(app, f"198.51.100.{30 + i}", auth=auth) as http:
            assert (await http.get("/v1/Fleets")).status_code == 200
    queries = db.queries
    async with client_at(app, "198.51.100.40", auth=auth) as http:
        refused = await http.get("/v1/Fleets")
        assert_too_many(refused)
        assert 1 <= int(refused.headers["Retry-After"]) <= 10  # a token in 1 / 0.1 s
        assert_too_many(await http.post("/v1/Fleets", data={"NetworkAccessProfile": "x"}))
    assert db.queries == queries  # auth was cached: no read, no command
