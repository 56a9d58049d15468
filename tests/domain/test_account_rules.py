"""Rotating an account's auth token and closing an account, as the decider rules them."""

from __future__ import annotations

from events.commands import (
    CloseAccount,
    CreateFleet,
    RegisterSim,
    RotateAuthToken,
    UpdateFleet,
)
from events.envelope import Rejection, event_ref
from services.credentials import hash_auth_token
from services.domain import decide, evolve
from services.domain.follow_ups import follow_ups, placed
from tests.domain.support import (
    ACCOUNT_A,
    ACCOUNT_B,
    CODE_2,
    ICCID_2,
    World,
    drive,
    envelope,
    rejected,
)


def test_rotating_the_token_records_only_the_new_hash():
    world = World()
    new_hash = hash_auth_token("a new token")
    [event] = world.run(RotateAuthToken(auth_token_hash=new_hash))
    assert (event.type, event.aggregate_type, event.aggregate_id) == (
        "AuthTokenChanged",
        "Account",
        ACCOUNT_A,
    )
    assert event.payload.auth_token_hash == new_hash
    assert event.aggregate_version == world.account.version  # the Account's versions run on


def test_a_token_hash_that_is_not_a_sha256_is_refused_with_20001():
    world = World()
    for bad in ("", "h" * 63, "H" * 64, "a new token"):
        assert rejected(world.state, RotateAuthToken(auth_token_hash=bad)).code == 20001


def test_a_closed_account_refuses_every_further_command_with_a_clear_rejection():
    world = World()
    [closed] = world.run(CloseAccount())
    assert closed.type == "AccountClosed" and world.account.closed
    for command in (
        CreateFleet(network_access_profile="nap"),
        UpdateFleet(fleet="fleet", data_limit=5),
        RotateAuthToken(auth_token_hash=hash_auth_token("again")),
        CloseAccount(),
    ):
        refusal = rejected(world.state, command)
        assert (refusal.http_status, refusal.code) == (404, 20404)
        assert "closed" in refusal.message
    # Another account is untouched: it may still close itself.
    answer = decide(world.state, envelope(CloseAccount(), ACCOUNT_B))
    assert not isinstance(answer, Rejection) and answer[0].type == "AccountClosed"


def test_a_registration_asked_before_closing_still_finishes():
    # Its card is held for it: refusing the steps would keep the card held for nothing.
    world = World()
    asked = envelope(RegisterSim(iccid=ICCID_2, registration_code=CODE_2))
    result = decide(world.state, asked)
    for event in result:
        evolve(world.state, event)
    [reserve] = follow_ups(world.state, asked, result)
    world.run(CloseAccount())
    drive(world.state, placed(reserve, [event_ref(e) for e in result]))
    assert ICCID_2 in world.account.sim_iccids
    assert world.state.sim_cards[ICCID_2].owner.account_sid == ACCOUNT_A
