"""Helpers for the API tests: the shared stack, accounts, and the usual setup through the API."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import msgspec

from services.config import Settings

_next_card = itertools.count()


class Account(msgspec.Struct):
    sid: str
    token: str


class Stack(msgspec.Struct):
    settings: Settings
    base_url: str
    network_sids: list[str]
    cards: list[tuple[str, str]]  # (iccid, registration code), provisioned, unregistered
    logs: Path
    make_account: Callable[[], Awaitable[Account]]
    metrics_url: str = ""  # the API's Prometheus metrics, on their own port
    api_pid: int = 0  # the `fleetstate api` process

    def card(self) -> tuple[str, str]:
        """A SIM card of the inventory that no test has used yet."""
        return self.cards[next(_next_card)]


def assert_error(response: httpx.Response, status: int, code: int) -> dict:
    """The response is a Twilio error with this status and code, and nothing more."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"code", "message", "more_info", "status"}, body
    assert body["code"] == code and body["status"] == status, body
    assert body["more_info"] == f"https://www.twilio.com/docs/errors/{code}"
    assert body["message"]
    return body


async def create_profile(api: httpx.AsyncClient, **form) -> dict:
    response = await api.post("/v1/NetworkAccessProfiles", data=form)
    assert response.status_code == 201, response.text
    return response.json()


async def create_fleet(api: httpx.AsyncClient, profile: str, **form) -> dict:
    response = await api.post("/v1/Fleets", data={"NetworkAccessProfile": profile, **form})
    assert response.status_code == 201, response.text
    return response.json()


async def register_sim(api: httpx.AsyncClient, stack: Stack) -> dict:
    iccid, code = stack.card()
    response = await api.post("/v1/Sims", data={"Iccid": iccid, "RegistrationCode": code})
    assert response.status_code == 201, response.text
    return response.json()


async def clock_passes(moment: str) -> None:
    """Returns once the wall clock is in a whole second after `moment` (ISO 8601): the API's
    times are whole seconds, so anything stamped from then on is later than `moment`."""
    target = datetime.fromisoformat(moment).replace(microsecond=0) + timedelta(seconds=1)
    while (left := (target - datetime.now(UTC)).total_seconds()) > 0:  # noqa: ASYNC110
        # the clock sends no event: sleep until it says the second has come
        await asyncio.sleep(left)
