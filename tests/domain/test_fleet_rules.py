import pytest

from events.commands import CreateFleet, CreateNetworkAccessProfile, UpdateFleet
from events.event_types import FleetCreated
from events.sids import derive_sid

from .support import ACCOUNT_B, World, accepted, aggregate_id, rejected, run


def create(world: World, **fields):
    return run(world.state, CreateFleet(network_access_profile="nap", **fields))


def test_a_fleet_gets_the_contract_defaults():
    world = World()
    event = create(world)[0]
    assert isinstance(event.payload, FleetCreated)
    p = event.payload
    assert (p.data_enabled, p.data_limit, p.data_metering) == (True, 1000, "payg")
    assert (p.sms_commands_enabled, p.sms_commands_url, p.sms_commands_method) == (
        True,
        None,
        "POST",
    )
    assert (p.ip_commands_url, p.ip_commands_method) == (None, "POST")
    assert p.network_access_profile_sid == world.profile
    assert event.aggregate_version == 1 and event.aggregate_type == "Fleet"


def test_the_fleet_sid_is_derived_from_the_command_id_and_account():
    world = World()
    events = run(world.state, CreateFleet(network_access_profile="nap"), command_id="c-42")
    assert events[0].aggregate_id == derive_sid("HF", "c-42", events[0].account_sid)


def test_creating_a_fleet_without_a_profile_is_rejected_with_20001():
    world = World()
    assert rejected(world.state, CreateFleet(network_access_profile="")).code == 20001


def test_creating_a_fleet_with_an_unknown_profile_is_rejected_with_404_20404():
    world = World()
    r = rejected(world.state, CreateFleet(network_access_profile="nope"))
    assert (r.http_status, r.code) == (404, 20404)


def test_another_accounts_profile_is_indistinguishable_from_a_missing_one():
    world = World()
    r = rejected(world.state, CreateFleet(network_access_profile=world.profile), ACCOUNT_B)
    assert (r.http_status, r.code) == (404, 20404)


def test_the_profile_can_be_named_by_sid_or_by_unique_name():
    world = World()
    by_sid = run(world.state, CreateFleet(network_access_profile=world.profile))
    assert by_sid[0].payload.network_access_profile_sid == world.profile


def test_a_duplicate_fleet_name_is_rejected_with_409_20409():
    world = World()
    r = rejected(world.state, CreateFleet(network_access_profile="nap", unique_name="fleet"))
    assert (r.http_status, r.code) == (409, 20409)


def test_fleet_names_are_unique_per_account_only():
    world = World()
    accepted(world.state, CreateNetworkAccessProfile(unique_name="nap"), ACCOUNT_B)
    events = accepted(
        world.state, CreateFleet(network_access_profile="nap", unique_name="fleet"), ACCOUNT_B
    )
    assert events[0].account_sid == ACCOUNT_B


@pytest.mark.parametrize("name", ["", "x" * 65, derive_sid("HF", "c")])
def test_an_invalid_or_fleet_sid_shaped_name_is_rejected_with_20001(name):
    assert (
        rejected(World().state, CreateFleet(network_access_profile="nap", unique_name=name)).code
        == 20001
    )


def test_a_name_shaped_like_another_types_sid_is_allowed():
    assert create(World(), unique_name=derive_sid("HS", "c"))


@pytest.mark.parametrize("limit", [0, -1, 2_000_001])
def test_a_data_limit_outside_1_to_2_000_000_is_rejected_with_20001(limit):
    r = rejected(World().state, CreateFleet(network_access_profile="nap", data_limit=limit))
    assert r.code == 20001


@pytest.mark.parametrize("limit", [1, 2_000_000])
def test_data_limits_at_the_bounds_are_accepted(limit):
    assert create(World(), data_limit=limit)[0].payload.data_limit == limit


def test_a_method_other_than_get_or_post_is_rejected_with_20001():
    r = rejected(World().state, CreateFleet(network_access_profile="nap", ip_commands_method="PUT"))
    assert r.code == 20001


def test_methods_are_case_insensitive_and_stored_upper_case():
    assert create(World(), ip_commands_method="get")[0].payload.ip_commands_method == "GET"


@pytest.mark.parametrize("url", ["ftp://x.example", "/relative", "https://", "not a url"])
def test_a_url_that_is_not_absolute_http_is_rejected_with_20001(url):
    r = rejected(World().state, CreateFleet(network_access_profile="nap", sms_commands_url=url))
    assert r.code == 20001


def test_both_spellings_of_sms_commands_fields_are_accepted():
    p = create(World(), commands_url="https://a.example/c", commands_method="GET")[0].payload
    assert (p.sms_commands_url, p.sms_commands_method) == ("https://a.example/c", "GET")
    p = create(World(), sms_commands_enabled=False)[0].payload
    assert p.sms_commands_enabled is False


def test_the_same_field_under_both_spellings_with_different_values_is_rejected_with_20001():
    world = World()
    r = rejected(
        world.state,
        CreateFleet(
            network_access_profile="nap",
            commands_url="https://a.example",
            sms_commands_url="https://b.example",
        ),
    )
    assert r.code == 20001
    r = rejected(
        world.state,
        CreateFleet(
            network_access_profile="nap", commands_enabled=True, sms_commands_enabled=False
        ),
    )
    assert r.code == 20001


def test_the_same_value_under_both_spellings_is_accepted():
    assert create(World(), commands_method="post", sms_commands_method="POST")


@pytest.mark.parametrize(
    "field,parameter",
    [
        ("data_enabled", "DataEnabled"),
        ("commands_enabled", "CommandsEnabled"),
        ("sms_commands_enabled", "SmsCommandsEnabled"),
    ],
)
def test_updating_an_immutable_field_is_rejected_with_20001_naming_it(field, parameter):
    world = World()
    r = rejected(world.state, UpdateFleet(fleet="fleet", **{field: True}))
    assert r.code == 20001 and parameter in r.message
    assert "create a new Fleet" in r.message and "reassign its Sims" in r.message


def test_updating_data_metering_is_rejected_with_20001_even_with_the_current_value():
    r = rejected(World().state, UpdateFleet(fleet="fleet", data_metering="payg"))
    assert r.code == 20001 and "DataMetering" in r.message


def test_updating_an_unknown_fleet_is_rejected_with_404_20404():
    r = rejected(World().state, UpdateFleet(fleet="nope", data_limit=5))
    assert (r.http_status, r.code) == (404, 20404)


def test_changing_the_data_limit_records_from_and_to():
    world = World()
    (event,) = run(world.state, UpdateFleet(fleet="fleet", data_limit=5))
    assert (event.type, event.payload.from_data_limit, event.payload.to_data_limit) == (
        "FleetDataLimitChanged",
        1000,
        5,
    )
    assert event.aggregate_version == 2


def test_one_update_with_several_changes_gives_one_event_each_with_consecutive_versions():
    world = World()
    events = run(
        world.state,
        UpdateFleet(
            fleet=world.fleet,
            unique_name="renamed",
            data_limit=7,
            sms_commands_url="https://x.example/sms",
            commands_method="GET",
            ip_commands_url="http://x.example/ip",
            ip_commands_method="GET",
        ),
    )
    assert [e.type for e in events] == [
        "FleetRenamed",
        "FleetDataLimitChanged",
        "FleetSmsCommandsUrlChanged",
        "FleetSmsCommandsMethodChanged",
        "FleetIpCommandsUrlChanged",
        "FleetIpCommandsMethodChanged",
    ]
    assert [e.aggregate_version for e in events] == [2, 3, 4, 5, 6, 7]
    assert world.account.fleet_names == {"renamed": world.fleet}


def test_an_update_whose_values_equal_the_current_ones_appends_nothing():
    world = World()
    assert run(world.state, UpdateFleet(fleet="fleet", unique_name="fleet", data_limit=1000)) == []


def test_renaming_a_fleet_to_another_fleets_name_is_rejected_with_409_20409():
    world = World()
    other = aggregate_id(create(world, unique_name="other"))
    r = rejected(world.state, UpdateFleet(fleet=other, unique_name="fleet"))
    assert (r.http_status, r.code) == (409, 20409)


def test_moving_a_fleet_to_another_profile_records_the_change():
    world = World()
    second = aggregate_id(accepted(world.state, CreateNetworkAccessProfile(unique_name="nap2")))
    (event,) = run(world.state, UpdateFleet(fleet="fleet", network_access_profile="nap2"))
    assert event.payload.from_network_access_profile_sid == world.profile
    assert event.payload.to_network_access_profile_sid == second


def test_moving_a_fleet_to_an_unknown_profile_is_rejected_with_404_20404():
    r = rejected(World().state, UpdateFleet(fleet="fleet", network_access_profile="nope"))
    assert r.code == 20404


def test_clearing_the_name_frees_it_for_another_fleet():
    world = World()
    run(world.state, UpdateFleet(fleet="fleet", unique_name=None))
    assert world.account.fleet_names == {}
    assert create(world, unique_name="fleet")
