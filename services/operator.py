"""Operator tools: accounts, the SIM-card inventory and the Network catalogue, as commands.

Everything goes through the command bus like any other write (the log stays the one truth); an
account is only reported created once the read model has it, so its credentials work at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid

import asyncpg
import msgspec

from events.client import CommandClient
from events.commands import (
    CloseAccount,
    Command,
    CreateAccount,
    NetworkIdentifier,
    ProvisionNetwork,
    ProvisionSimCard,
    RotateAuthToken,
)
from events.envelope import Outcome
from events.sids import OPERATOR_ACCOUNT_SID
from services.config import Settings, token_keys_of
from services.credentials import hash_auth_token, new_account_sid, new_auth_token
from services.delivery.sealing import TokenSeal
from services.projection import ProjectionWaiter

TIMEOUT = 30.0
DEFAULT_ACCOUNT_NAME = "fleetstate account"


class NotDone(RuntimeError):
    """A command was rejected, or its outcome or projection did not come in time."""


class NewAccount(msgspec.Struct):
    account_sid: str
    auth_token: str


@contextlib.asynccontextmanager
async def command_client(settings: Settings, actor: str = "operator"):
    """A client that sends operator commands on the operator's topic (only the operator's
    principal may write it)."""
    async with CommandClient(
        settings.kafka_bootstrap,
        commands_topic=settings.commands_topic,
        operator_topic=settings.operator_topic,
        outcomes_topic=settings.outcomes_topic,
        actor=actor,
    ) as client:
        yield client


async def execute(
    settings: Settings,
    client: CommandClient,
    command: Command,
    *,
    account_sid: str,
    command_id: str | None = None,
) -> Outcome:
    """Sends a command, waits for its outcome and for the read model to show its events."""
    try:
        outcome = await client.execute(
            command, account_sid=account_sid, command_id=command_id, timeout=TIMEOUT
        )
    except TimeoutError:
        raise NotDone("no outcome in time: is `fleetstate processor` running?") from None
    if outcome.events:
        wanted: dict[int, int] = {}
        for ref in outcome.events:
            wanted[ref.partition] = max(wanted.get(ref.partition, -1), ref.offset)
        waiter = ProjectionWaiter(settings.database_url, settings.events_topic)
        await waiter.start()
        try:
            if not await waiter.wait_for(wanted, TIMEOUT):
                raise NotDone("not projected in time: is `fleetstate projector` running?")
        finally:
            await waiter.stop()
    return outcome


def describe(outcome: Outcome) -> str:
    if outcome.rejection is not None:
        r = outcome.rejection
        return f"rejected: {r.http_status} {r.code} {r.message}"
    if not outcome.events:
        return "accepted: nothing to change (already done)"
    return "accepted: " + ", ".join(f"{e.type} {e.aggregate_id}" for e in outcome.events)


def sealed(settings: Settings, auth_token: str) -> str | None:
    """The token encrypted with the newest token key, for the webhook delivery to sign with;
    None without keys (the account's webhooks then fail, saying so: see README, Webhooks)."""
    keys = token_keys_of(settings)
    return TokenSeal.from_keys(keys).seal(auth_token) if keys else None


async def create_account(
    settings: Settings,
    name: str | None = None,
    *,
    account_sid: str | None = None,
    auth_token: str | None = None,
    command_id: str | None = None,
    parent: str | None = None,
) -> NewAccount:
    """A new account with a random SID and auth token; only the token's hash is sent. With a
    `parent` (an existing account), a subaccount of it: reported once the parent knows it."""
    account_sid = account_sid or new_account_sid()
    auth_token = auth_token or new_auth_token()
    command_id = command_id or uuid.uuid4().hex
    if parent is not None and not await _account_exists(settings, parent):
        raise NotDone(f"no account {parent} to be the parent")
    command = CreateAccount(
        friendly_name=name or DEFAULT_ACCOUNT_NAME,
        auth_token_hash=hash_auth_token(auth_token),
        parent_account_sid=parent,
        auth_token_sealed=sealed(settings, auth_token),
    )
    async with command_client(settings) as client:
        adopted = None
        if parent is not None:  # the step the processor sends on to the parent's partition
            adopted = await client.expect(parent, f"{command_id}:adopt")
        outcome = await execute(
            settings, client, command, account_sid=account_sid, command_id=command_id
        )
        if outcome.rejection is not None:
            raise NotDone(describe(outcome))
        if adopted is not None:
            try:
                answer = await asyncio.wait_for(adopted, TIMEOUT)
            except TimeoutError:
                raise NotDone("the parent did not take the subaccount in time") from None
            if answer.rejection is not None:
                raise NotDone(describe(answer))
    return NewAccount(account_sid=account_sid, auth_token=auth_token)


async def rotate_auth_token(
    settings: Settings, account_sid: str, command_id: str | None = None
) -> str:
    """A new random auth token for the account, returned once: only its hash is sent. Returns
    when the read model has it; the old token then stops working within the API's auth cache
    time (FLEETSTATE_API_AUTH_CACHE_SECONDS)."""
    auth_token = new_auth_token()
    command = RotateAuthToken(
        auth_token_hash=hash_auth_token(auth_token), auth_token_sealed=sealed(settings, auth_token)
    )
    await _account_command(settings, account_sid, command, command_id)
    return auth_token


async def close_account(
    settings: Settings, account_sid: str, command_id: str | None = None
) -> None:
    """Closes the account for good; returns when the read model has it closed."""
    await _account_command(settings, account_sid, CloseAccount(), command_id)


async def _account_command(
    settings: Settings, account_sid: str, command: Command, command_id: str | None
) -> None:
    async with command_client(settings) as client:
        outcome = await execute(
            settings, client, command, account_sid=account_sid, command_id=command_id
        )
    if outcome.rejection is not None:
        raise NotDone(describe(outcome))


async def _account_exists(settings: Settings, account_sid: str) -> bool:
    conn = await asyncpg.connect(settings.database_url)
    try:
        return await conn.fetchval("select true from accounts where sid = $1", account_sid) or False
    finally:
        await conn.close()


async def add_sim_card(
    settings: Settings, iccid: str, code: str, command_id: str | None = None
) -> Outcome:
    async with command_client(settings) as client:
        return await execute(
            settings,
            client,
            ProvisionSimCard(iccid=iccid, registration_code=code),
            account_sid=OPERATOR_ACCOUNT_SID,
            command_id=command_id,
        )


async def add_network(
    settings: Settings,
    name: str,
    country: str,
    mcc: str,
    mncs: list[str],
    command_id: str | None = None,
) -> Outcome:
    command = ProvisionNetwork(
        friendly_name=name,
        iso_country=country,
        identifiers=[NetworkIdentifier(mcc=mcc, mnc=mnc) for mnc in mncs],
    )
    async with command_client(settings) as client:
        return await execute(
            settings, client, command, account_sid=OPERATOR_ACCOUNT_SID, command_id=command_id
        )
