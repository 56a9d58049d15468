import pytest
from msgspec.structs import replace

from events.commands import CreateFleet, RegisterSim, UpdateSim
from events.sids import derive_sid

from .support import (
    ACCOUNT_B,
    CODE_1,
    CODE_2,
    ICCID_1,
    ICCID_2,
    World,
    accepted,
    aggregate_id,
    rejected,
    run,
)


def status_of(world: World) -> str:
    return world.account.sims[world.sim].status


def activate(world: World) -> None:
    accepted(world.state, UpdateSim(sim=world.sim, fleet="fleet", status="active"))


# --- registration ---------------------------------------------------------------------------


def test_a_registered_sim_starts_new_without_a_fleet():
    world = World()
    sim = world.account.sims[world.sim]
    assert (sim.status, sim.fleet_sid, sim.iccid) == ("new", None, ICCID_1)


@pytest.mark.parametrize(
    "fields",
    [
        {},
        {"iccid": ICCID_2},
        {"registration_code": CODE_2},
        {"iccid": "", "registration_code": CODE_2},
    ],
)
def test_registering_without_iccid_or_code_is_rejected_with_83001(fields):
    assert rejected(World().state, RegisterSim(**fields)).code == 83001


def test_registering_a_card_not_in_the_inventory_is_rejected_with_83002():
    r = rejected(World().state, RegisterSim(iccid="8901260000000000999", registration_code=CODE_2))
    assert r.code == 83002


def test_registering_with_the_wrong_code_is_rejected_with_83002():
    assert (
        rejected(World().state, RegisterSim(iccid=ICCID_2, registration_code=CODE_1)).code == 83002
    )


def test_registering_another_accounts_sim_is_rejected_with_83002_revealing_nothing():
    world = World()
    r = rejected(world.state, RegisterSim(iccid=ICCID_1, registration_code=CODE_1), ACCOUNT_B)
    unknown = rejected(
        world.state, RegisterSim(iccid="8901260000000000999", registration_code="X" * 10)
    )
    assert r == unknown
    assert world.sim not in r.message


def test_registering_a_sim_already_in_this_account_is_rejected_with_83003_carrying_its_sid():
    world = World()
    r = rejected(world.state, RegisterSim(iccid=ICCID_1, registration_code=CODE_1))
    assert r.code == 83003 and world.sim in r.message


def test_registration_marks_the_inventory_card_as_taken_by_the_account():
    world = World()
    card = world.state.sim_cards[ICCID_1]
    assert (card.owner.account_sid, card.owner.sim_sid) == (world.account.sid, world.sim)
    assert card.reserved_for is None


# --- status rules ----------------------------------------------------------------------------


@pytest.mark.parametrize("status", ["ready", "active"])
def test_activating_a_sim_without_a_fleet_is_rejected_with_83007(status):
    world = World()
    assert rejected(world.state, UpdateSim(sim=world.sim, status=status)).code == 83007


def test_a_fleet_given_in_the_same_request_counts_for_activation():
    world = World()
    events = run(world.state, UpdateSim(sim=world.sim, status="active", fleet="fleet"))
    # Assigned first, then activated: every prefix of the log keeps the invariant. The new
    # Fleet's settings are then scheduled for the SIM (decide_settings.py).
    assert [e.type for e in events] == [
        "SimAssignedToFleet",
        "SimStatusChanged",
        "SettingsUpdateScheduled",
    ]
    # The Sim's versions 1 and 2: its registration requested, then recorded.
    assert [e.aggregate_version for e in events[:2]] == [3, 4]
    assert status_of(world) == "active"


@pytest.mark.parametrize("status", ["ready", "active"])
def test_unassigning_a_ready_or_active_sim_is_rejected_with_83008(status):
    world = World()
    accepted(world.state, UpdateSim(sim=world.sim, fleet="fleet", status=status))
    assert rejected(world.state, UpdateSim(sim=world.sim, fleet=None)).code == 83008


def test_an_active_sim_may_move_to_another_fleet():
    world = World()
    activate(world)
    other = aggregate_id(accepted(world.state, CreateFleet(network_access_profile="nap")))
    event, _settings = run(world.state, UpdateSim(sim=world.sim, fleet=other))
    assert (event.payload.from_fleet_sid, event.payload.to_fleet_sid) == (world.fleet, other)


def test_deactivating_and_unassigning_in_one_request_deactivates_first():
    world = World()
    activate(world)
    events = run(world.state, UpdateSim(sim=world.sim, status="inactive", fleet=None))
    # The active Sim's address goes back with the same decision (decide_ip.py).
    assert [e.type for e in events] == [
        "SimStatusChanged",
        "SimAssignedToFleet",
        "SimIpAddressReleased",
    ]


def test_assigning_an_unknown_fleet_is_rejected_with_83006():
    world = World()
    assert rejected(world.state, UpdateSim(sim=world.sim, fleet="nope")).code == 83006


def test_assigning_another_accounts_fleet_is_rejected_with_83006():
    world = World()
    assert (
        rejected(world.state, UpdateSim(sim=world.sim, fleet=derive_sid("HF", "x"))).code == 83006
    )


def test_changing_the_fleet_of_a_scheduled_sim_is_rejected_with_83009():
    world = World()
    sims = world.account.sims
    sims[world.sim] = replace(sims[world.sim], status="scheduled")
    assert rejected(world.state, UpdateSim(sim=world.sim, fleet="fleet")).code == 83009


ALLOWED = [
    ("new", "ready"),
    ("new", "active"),
    ("new", "inactive"),
    ("ready", "active"),
    ("ready", "inactive"),
    ("active", "inactive"),
    ("inactive", "active"),
]
REFUSED = [
    ("active", "ready"),
    ("inactive", "ready"),
]


def world_with_status(status: str) -> World:
    world = World()
    accepted(world.state, UpdateSim(sim=world.sim, fleet="fleet"))
    path = {"new": [], "ready": ["ready"], "active": ["active"], "inactive": ["inactive"]}[status]
    for step in path:
        accepted(world.state, UpdateSim(sim=world.sim, status=step))
    assert status_of(world) == status
    return world


@pytest.mark.parametrize("from_status,to_status", ALLOWED)
def test_allowed_status_transitions_are_recorded(from_status, to_status):
    world = world_with_status(from_status)
    # Leaving active also gives the Sim's address back (tests/domain/test_ip_addresses.py).
    event, *_ = run(world.state, UpdateSim(sim=world.sim, status=to_status))
    assert (event.payload.from_status, event.payload.to_status) == (from_status, to_status)
    assert event.payload.reason == "requested"


@pytest.mark.parametrize("from_status,to_status", REFUSED)
def test_other_status_transitions_are_rejected_with_83010(from_status, to_status):
    world = world_with_status(from_status)
    assert rejected(world.state, UpdateSim(sim=world.sim, status=to_status)).code == 83010


@pytest.mark.parametrize("status", ["new", "ready", "active", "inactive"])
def test_new_is_not_an_update_value_whatever_the_sims_status(status):
    # Twilio's update values are ready, active and inactive: `new` is refused like any other
    # value (it was once a no-op for a new Sim and 83010 for the others).
    world = world_with_status(status)
    refusal = rejected(world.state, UpdateSim(sim=world.sim, status="new"))
    assert (refusal.http_status, refusal.code) == (400, 20001)


@pytest.mark.parametrize("status", ["ready", "active", "inactive"])
def test_setting_the_current_status_again_appends_nothing(status):
    world = world_with_status(status)
    assert run(world.state, UpdateSim(sim=world.sim, status=status)) == []


@pytest.mark.parametrize("status", ["scheduled", "ACTIVE", "deleted"])
def test_an_unknown_or_unrequestable_status_is_rejected_with_20001(status):
    world = World()
    assert rejected(world.state, UpdateSim(sim=world.sim, status=status)).code == 20001


# --- names, callbacks, references --------------------------------------------------------------


def test_a_duplicate_sim_name_is_rejected_with_409_83011():
    world = World()
    accepted(world.state, UpdateSim(sim=world.sim, unique_name="tracker"))
    other = aggregate_id(
        accepted(world.state, RegisterSim(iccid=ICCID_2, registration_code=CODE_2))
    )
    r = rejected(world.state, UpdateSim(sim=other, unique_name="tracker"))
    assert (r.http_status, r.code) == (409, 83011)


def test_a_sim_sid_shaped_name_is_rejected_with_20001():
    world = World()
    r = rejected(world.state, UpdateSim(sim=world.sim, unique_name=derive_sid("HS", "z")))
    assert r.code == 20001


def test_a_sim_can_be_addressed_by_its_unique_name():
    world = World()
    accepted(world.state, UpdateSim(sim=world.sim, unique_name="tracker"))
    event, settings = run(world.state, UpdateSim(sim="tracker", fleet="fleet"))
    assert event.aggregate_id == settings.payload.sim_sid == world.sim


def test_updating_an_unknown_sim_is_rejected_with_404_20404():
    r = rejected(World().state, UpdateSim(sim="nope", status="active"))
    assert (r.http_status, r.code) == (404, 20404)


def test_updating_another_accounts_sim_is_rejected_with_404_20404():
    world = World()
    r = rejected(world.state, UpdateSim(sim=world.sim, unique_name="mine"), ACCOUNT_B)
    assert (r.http_status, r.code) == (404, 20404)


def test_a_callback_is_validated_and_recorded_with_the_change():
    world = World()
    events = run(
        world.state,
        UpdateSim(sim=world.sim, fleet="fleet", callback_url="https://cb.example/x"),
    )
    assert [e.type for e in events] == [
        "SimCallbackChanged",
        "SimAssignedToFleet",
        "SettingsUpdateScheduled",
    ]
    assert (events[0].payload.url, events[0].payload.method) == ("https://cb.example/x", "POST")


@pytest.mark.parametrize("fields", [{"callback_url": "mailto:x@y"}, {"callback_method": "PATCH"}])
def test_an_invalid_callback_is_rejected_with_20001(fields):
    world = World()
    assert rejected(world.state, UpdateSim(sim=world.sim, fleet="fleet", **fields)).code == 20001


def test_a_rejected_update_changes_nothing_even_when_part_of_it_was_valid():
    world = World()
    accepted(world.state, UpdateSim(sim=world.sim, unique_name="tracker"))
    r = rejected(world.state, UpdateSim(sim=world.sim, unique_name="renamed", status="active"))
    assert r.code == 83007
    assert world.account.sims[world.sim].unique_name == "tracker"
