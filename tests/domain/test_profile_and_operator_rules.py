import pytest

from events.commands import (
    AddNetworkToProfile,
    CreateAccount,
    CreateFleet,
    CreateNetworkAccessProfile,
    NetworkIdentifier,
    ProvisionNetwork,
    ProvisionSimCard,
    RemoveNetworkFromProfile,
    UpdateNetworkAccessProfile,
)
from events.sids import OPERATOR_ACCOUNT_SID, derive_sid

from .support import ACCOUNT_A, ICCID_1, World, accepted, networks, rejected, run

# --- Network Access Profiles -------------------------------------------------------------------


def test_a_profile_may_be_created_without_a_name_or_networks():
    (event,) = run(World().state, CreateNetworkAccessProfile())
    assert (event.payload.unique_name, event.payload.network_sids) == (None, [])


def test_a_profile_with_a_network_outside_the_catalogue_is_rejected_with_20001():
    r = rejected(World().state, CreateNetworkAccessProfile(networks=[derive_sid("HW", "x")]))
    assert r.code == 20001


def test_a_duplicate_profile_name_is_rejected_with_409_20409():
    r = rejected(World().state, CreateNetworkAccessProfile(unique_name="nap"))
    assert (r.http_status, r.code) == (409, 20409)


def test_a_profile_sid_shaped_name_is_rejected_with_20001():
    r = rejected(World().state, CreateNetworkAccessProfile(unique_name=derive_sid("HA", "q")))
    assert r.code == 20001


def test_renaming_a_profile_updates_the_name_index():
    world = World()
    accepted(world.state, UpdateNetworkAccessProfile(network_access_profile="nap", unique_name="x"))
    assert world.account.profile_names == {"x": world.profile}
    assert run(world.state, CreateFleet(network_access_profile="x"))


def test_renaming_an_unknown_profile_is_rejected_with_404_20404():
    r = rejected(
        World().state, UpdateNetworkAccessProfile(network_access_profile="no", unique_name="x")
    )
    assert r.code == 20404


def test_adding_a_network_records_it_and_adding_it_again_appends_nothing():
    world = World()
    second = networks(world.state)[1]
    (event,) = run(world.state, AddNetworkToProfile(network_access_profile="nap", network=second))
    assert event.type == "NetworkAddedToProfile" and event.aggregate_version == 2
    assert run(world.state, AddNetworkToProfile(network_access_profile="nap", network=second)) == []


def test_adding_a_network_outside_the_catalogue_is_rejected_with_20001():
    world = World()
    r = rejected(
        world.state,
        AddNetworkToProfile(network_access_profile="nap", network=derive_sid("HW", "z")),
    )
    assert r.code == 20001


def test_removing_a_network_not_in_the_profile_is_rejected_with_404_20404():
    world = World()
    second = networks(world.state)[1]
    r = rejected(
        world.state, RemoveNetworkFromProfile(network_access_profile="nap", network=second)
    )
    assert (r.http_status, r.code) == (404, 20404)


def test_removing_a_network_takes_it_out_of_the_profile():
    world = World()
    first = networks(world.state)[0]
    accepted(world.state, RemoveNetworkFromProfile(network_access_profile="nap", network=first))
    assert world.account.profiles[world.profile].network_sids == ()


# --- operator and accounts ------------------------------------------------------------------


def test_a_tenant_cannot_send_operator_commands():
    r = rejected(
        World().state, ProvisionSimCard(iccid="8901260000000000037", registration_code="A" * 10)
    )
    assert r.code == 20001


def test_the_operator_cannot_send_tenant_commands():
    r = rejected(World().state, CreateNetworkAccessProfile(), OPERATOR_ACCOUNT_SID)
    assert r.code == 20001


@pytest.mark.parametrize(
    "iccid,code",
    [("123", "ABCDE12345"), ("8901260000000000037", "SHORT"), ("89" + "1" * 21, "ABCDE12345")],
)
def test_a_malformed_sim_card_is_rejected_with_20001(iccid, code):
    r = rejected(
        World().state, ProvisionSimCard(iccid=iccid, registration_code=code), OPERATOR_ACCOUNT_SID
    )
    assert r.code == 20001


def test_provisioning_a_card_twice_with_another_code_is_rejected_with_409():
    world = World()
    r = rejected(
        world.state,
        ProvisionSimCard(iccid=ICCID_1, registration_code="ZZZZZ99999"),
        OPERATOR_ACCOUNT_SID,
    )
    assert (r.http_status, r.code) == (409, 20409)


def test_the_registration_code_never_reaches_the_log():
    world = World()
    (event,) = run(
        world.state,
        ProvisionSimCard(iccid="8901260000000000037", registration_code="SECRET1234"),
        OPERATOR_ACCOUNT_SID,
    )
    assert "SECRET1234" not in repr(event)


def test_a_network_whose_mcc_mnc_is_already_catalogued_is_rejected_with_409():
    world = World()
    r = rejected(
        world.state,
        ProvisionNetwork(
            friendly_name="Again", iso_country="US", identifiers=[NetworkIdentifier("310", "410")]
        ),
        OPERATOR_ACCOUNT_SID,
    )
    assert (r.http_status, r.code) == (409, 20409)


@pytest.mark.parametrize(
    "fields",
    [
        {"iso_country": "usa", "identifiers": [NetworkIdentifier("310", "999")]},
        {"iso_country": "US", "identifiers": []},
        {"iso_country": "US", "identifiers": [NetworkIdentifier("31", "999")]},
    ],
)
def test_an_invalid_network_is_rejected_with_20001(fields):
    r = rejected(World().state, ProvisionNetwork(friendly_name="N", **fields), OPERATOR_ACCOUNT_SID)
    assert r.code == 20001


def test_an_account_is_created_once():
    world = World()
    r = rejected(world.state, CreateAccount(friendly_name="again", auth_token_hash="h"), ACCOUNT_A)
    assert (r.http_status, r.code) == (409, 20409)
    new = derive_sid("AC", "account-c")
    assert run(world.state, CreateAccount(friendly_name="C", auth_token_hash="h"), new)
    assert world.state.accounts[new].version == 1
