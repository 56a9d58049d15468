"""Twilio operations fleetstate does not serve answer 501 20501, saying which and why, to a
signed-in caller (401 to anyone else); a path outside Twilio's contract stays 404 20404."""

from __future__ import annotations

import httpx
import pytest

from services.api.unserved import NOT_SERVED_CODE, UNSERVED
from tests.api.support import assert_error

CALLS = [
    (method, path.replace("{sid:str}", "HS" + "0" * 32))
    for path, methods, _ in UNSERVED
    for method in methods
]


@pytest.mark.parametrize(("method", "path"), CALLS)
async def test_an_unserved_operation_is_501_and_says_so(stack, api, method, path):
    answer = await api.request(method, path)
    body = assert_error(answer, 501, NOT_SERVED_CODE)
    assert body["message"].startswith("Not implemented: ")
    async with httpx.AsyncClient(base_url=stack.base_url) as stranger:
        assert_error(await stranger.request(method, path), 401, 20003)


async def test_a_path_outside_the_contract_is_still_not_found(api):
    assert_error(await api.get("/v1/Satellites"), 404, 20404)
