"""eSIM Profiles: expected state per command, as the decider sees it; the profile's ICCID
becomes the account's card through the card's one writer."""

from __future__ import annotations

import pytest

from events.commands import (
    ClaimEsimCard,
    CreateEsimProfile,
    RecordEsimProfileReport,
    RegisterSim,
    sender_of,
)
from events.envelope import Rejection
from events.sids import is_sid
from services.domain import fold
from services.domain.decide_esim import sim_of
from services.domain.state import CardHolder

from .support import ACCOUNT_A, ACCOUNT_B, CODE_2, ICCID_1, ICCID_2, World, rejected, run

EID = "89049032005008882600033489000001"
ESIM_ICCID = "8988307000000000017"
AVAILABLE = {
    "iccid": ESIM_ICCID,
    "smdp_plus_address": "smdp.example.com",
    "matching_id": "AAAAA-BBBBB-CCCCC-DDDDD-EEEEE",
    "activation_code": "1$smdp.example.com$AAAAA-BBBBB-CCCCC-DDDDD-EEEEE",
}


def order(world: World, account=ACCOUNT_A, **fields) -> str:
    events = world.run(CreateEsimProfile(**{"eid": EID, **fields}), account)
    return events[0].aggregate_id


def report(world: World, profile: str, status: str, account=ACCOUNT_A, **fields):
    command = RecordEsimProfileReport(profile=profile, status=status, **fields)
    return run(world.state, command, account, log=world.log)


def test_an_order_is_new_with_its_eid_and_callback():
    world = World()
    events = world.run(CreateEsimProfile(eid=EID, callback_url="https://example.com/esim"))
    (created,) = events
    assert created.type == "EsimProfileCreated" and is_sid("HP", created.aggregate_id)
    assert (created.payload.eid, created.payload.generate_matching_id) == (EID, False)
    assert (created.payload.callback_url, created.payload.callback_method) == (
        "https://example.com/esim",
        "POST",
    )
    assert world.account.esim_profiles[created.aggregate_id].status == "new"


def test_twilios_own_example_eid_is_taken():
    world = World()
    (created,) = world.run(CreateEsimProfile(eid="89049032005008882600033489aaaaaa"))
    assert created.payload.eid == "89049032005008882600033489aaaaaa"


def test_a_matching_id_may_be_asked_for_instead_of_an_eid():
    world = World()
    (created,) = world.run(CreateEsimProfile(generate_matching_id=True))
    assert (created.payload.eid, created.payload.generate_matching_id) == (None, True)


@pytest.mark.parametrize(
    ("fields", "says"),
    [
        ({}, "Eid is required, unless GenerateMatchingId is true"),
        ({"generate_matching_id": False}, "Eid is required, unless GenerateMatchingId is true"),
        ({"eid": ""}, "Eid is required"),
        ({"eid": "12345"}, "Eid must be the eUICC's EID, 32 letters or digits"),
        ({"eid": EID, "callback_url": "ftp://x"}, "CallbackUrl"),
        ({"eid": EID, "callback_method": "PUT"}, "CallbackMethod must be GET or POST"),
    ],
)
def test_an_order_without_eid_or_matching_id_is_refused_naming_what_is_missing(fields, says):
    world = World()
    refusal = rejected(world.state, CreateEsimProfile(**fields))
    assert (refusal.http_status, refusal.code) == (400, 20001) and says in refusal.message


def test_available_makes_the_iccid_a_new_sim_of_the_account_owned_through_its_card():
    world = World()
    profile = order(world, callback_url="https://example.com/esim")
    report(world, profile, "reserving")
    assert world.account.esim_profiles[profile].status == "reserving"
    report(world, profile, "available", **AVAILABLE)
    sim = sim_of(ACCOUNT_A, profile)
    assert world.account.sims[sim].iccid == ESIM_ICCID
    assert world.account.sims[sim].status == "new"
    assert world.account.esim_profiles[profile].status == "available"
    card = world.state.sim_cards[ESIM_ICCID]
    assert card.owner == CardHolder(ACCOUNT_A, sim) and card.reserved_for is None
    (available,) = [e for e in world.log if e.type == "EsimProfileAvailable"]
    assert (available.payload.sim_sid, available.payload.iccid) == (sim, ESIM_ICCID)
    assert available.payload.callback_url == "https://example.com/esim"
    assert available.payload.activation_code == AVAILABLE["activation_code"]
    card_events = [e.type for e in world.log if e.aggregate_id == ESIM_ICCID]
    assert card_events == ["SimCardProvisioned", "SimCardReserved", "SimCardAssigned"]


def test_downloaded_then_installed_and_the_profile_leaves_the_state():
    world = World()
    profile = order(world)
    report(world, profile, "available", **AVAILABLE)
    report(world, profile, "downloaded")
    assert world.account.esim_profiles[profile].status == "downloaded"
    report(world, profile, "installed")
    assert profile not in world.account.esim_profiles  # finished: it changes no more
    late = report(world, profile, "downloaded")
    assert isinstance(late, Rejection) and late.http_status == 404


def test_a_report_never_moves_a_profile_back_and_a_repeat_changes_nothing():
    world = World()
    profile = order(world)
    report(world, profile, "available", **AVAILABLE)
    report(world, profile, "downloaded")
    before = len(world.log)
    assert report(world, profile, "reserving") == []
    assert report(world, profile, "available", **AVAILABLE) == []
    assert report(world, profile, "downloaded") == []
    assert len(world.log) == before
    assert world.account.esim_profiles[profile].status == "downloaded"
    sims = [s for s in world.account.sims.values() if s.iccid == ESIM_ICCID]
    assert len(sims) == 1


def test_downloaded_before_available_is_refused():
    world = World()
    profile = order(world)
    refusal = report(world, profile, "downloaded")
    assert isinstance(refusal, Rejection) and refusal.http_status == 409


def test_failed_carries_the_sm_dp_plus_error_and_finishes_the_profile():
    world = World()
    profile = order(world)
    report(world, profile, "reserving")
    events = report(world, profile, "failed", error_code="8.1.1", error_message="EID unknown")
    (failed,) = events
    assert (failed.payload.from_status, failed.payload.to_status) == ("reserving", "failed")
    assert (failed.payload.error_code, failed.payload.error_message) == ("8.1.1", "EID unknown")
    assert profile not in world.account.esim_profiles
    no_reason = report(world, order(world), "failed")
    assert isinstance(no_reason, Rejection) and "error_code" in no_reason.message


def test_an_iccid_that_is_a_card_of_the_inventory_is_refused_and_the_profile_failed():
    world = World()
    profile = order(world)
    report(world, profile, "available", **{**AVAILABLE, "iccid": ICCID_2})
    (failed,) = [e for e in world.log if e.type == "EsimProfileStatusChanged"]
    assert failed.payload.to_status == "failed" and failed.payload.error_code == "card_refused"
    assert ICCID_2 in failed.payload.error_message
    card = world.state.sim_cards[ICCID_2]
    assert card.owner is None and card.reserved_for is None  # still the inventory's
    # ...and still registrable with its code
    world.run(RegisterSim(iccid=ICCID_2, registration_code=CODE_2))


def test_a_card_the_sm_dp_plus_made_cannot_be_registered_with_any_code():
    world = World()
    profile = order(world, account=ACCOUNT_B)
    report(world, profile, "available", account=ACCOUNT_B, **AVAILABLE)
    refusal = rejected(world.state, RegisterSim(iccid=ESIM_ICCID, registration_code=CODE_2))
    assert refusal.code == 83002  # not registrable: another account's


def test_another_accounts_profile_is_not_found():
    world = World()
    profile = order(world)
    refusal = report(world, profile, "reserving", account=ACCOUNT_B)
    assert isinstance(refusal, Rejection) and refusal.http_status == 404


def test_a_claim_asked_again_changes_nothing():
    world = World()
    profile = order(world)
    report(world, profile, "available", **AVAILABLE)
    sim = sim_of(ACCOUNT_A, profile)
    claim = ClaimEsimCard(
        iccid=ESIM_ICCID,
        sim=sim,
        profile=profile,
        smdp_plus_address=None,
        matching_id=None,
        activation_code=None,
    )
    before = len(world.log)
    assert run(world.state, claim, ACCOUNT_A, log=world.log) == []
    assert len(world.log) == before


def test_folding_the_log_gives_the_profiles_in_flight_the_decider_had():
    world = World()
    finished = order(world)
    report(world, finished, "available", **AVAILABLE)
    report(world, finished, "downloaded")
    report(world, finished, "installed")
    waiting = order(world, generate_matching_id=True, eid="")
    report(world, waiting, "reserving")
    folded = fold(world.log)
    assert folded.accounts[ACCOUNT_A].esim_profiles == world.account.esim_profiles
    assert list(world.account.esim_profiles) == [waiting]
    assert folded.sim_cards == world.state.sim_cards


def test_only_fleetstate_itself_may_send_the_sm_dp_plus_reports_and_card_steps():
    assert sender_of(RecordEsimProfileReport(profile="HP", status="reserving")) == "internal"
    assert sender_of(CreateEsimProfile(eid=EID)) == "tenant"
    assert ICCID_1 != ESIM_ICCID


def test_an_iccid_the_sm_dp_plus_gave_twice_has_one_owner_and_the_second_profile_fails():
    world = World()
    first = order(world)
    report(world, first, "available", **AVAILABLE)
    second = order(world, account=ACCOUNT_B)
    report(world, second, "available", account=ACCOUNT_B, **AVAILABLE)
    card = world.state.sim_cards[ESIM_ICCID]
    assert card.owner == CardHolder(ACCOUNT_A, sim_of(ACCOUNT_A, first))
    assert sim_of(ACCOUNT_B, second) not in world.state.accounts[ACCOUNT_B].sims
    (failed,) = [e for e in world.log if e.type == "EsimProfileStatusChanged"]
    assert failed.aggregate_id == second and failed.account_sid == ACCOUNT_B
    assert failed.payload.error_code == "card_refused"
