"""Fixtures of the processor tests: an account that exists, so that its commands are decided."""

from __future__ import annotations

import pytest

from events.commands import CreateAccount
from events.sids import derive_sid

ACCOUNT = derive_sid("AC", "processor-tests")


@pytest.fixture
async def account(client, processor) -> str:
    outcome = await client.execute(
        CreateAccount(friendly_name="processor tests", auth_token_hash="0" * 64),
        account_sid=ACCOUNT,
        timeout=60,
    )
    assert outcome.status == "accepted", outcome
    return ACCOUNT
