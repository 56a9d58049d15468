"""Settings Updates: expected events and state per command, as the decider sees them; the
rollout to every Sim a change concerns, in chunks, each step repeated as a crash would."""

from __future__ import annotations

import pytest

from events.commands import (
    AddNetworkToProfile,
    CreateFleet,
    CreateNetworkAccessProfile,
    ProvisionSimCard,
    RecordSettingsUpdateStatus,
    RegisterSim,
    RemoveNetworkFromProfile,
    ScheduleSettingsUpdates,
    UpdateFleet,
    UpdateSim,
    sender_of,
)
from events.envelope import Rejection
from events.sids import OPERATOR_ACCOUNT_SID, is_sid
from services.domain import decide, decide_settings, evolve, fold
from services.domain.effects import changed, created
from services.domain.follow_ups import follow_ups

from .support import ACCOUNT_A, ACCOUNT_B, CODE_1, ICCID_1, World, envelope, networks, rejected, run


def scheduled(events) -> list:
    return [e for e in events if e.type == "SettingsUpdateScheduled"]


def version_of(*network_sids: str) -> str:
    return decide_settings.networks_version(network_sids)


def more_sims(world: World, count: int, fleet: str = "fleet") -> list[str]:
    """`count` more Sims of account A, each registered and assigned to `fleet`."""
    sims = []
    for _ in range(count):
        iccid = f"890126000000001{len(world.state.sim_cards):04d}"
        run(
            world.state,
            ProvisionSimCard(iccid=iccid, registration_code=CODE_1),
            OPERATOR_ACCOUNT_SID,
        )
        sid = world.run(RegisterSim(iccid=iccid, registration_code=CODE_1))[0].aggregate_id
        world.run(UpdateSim(sim=sid, fleet=fleet))
        sims.append(sid)
    return sims


# --- one Sim: assigned to a Fleet ------------------------------------------------------------


def test_assigning_a_sim_to_a_fleet_schedules_one_update_with_the_profiles_package():
    world = World()
    events = world.run(UpdateSim(sim=world.sim, fleet="fleet", status="active"))
    assert [e.type for e in events] == [
        "SimAssignedToFleet",
        "SimStatusChanged",
        "SettingsUpdateScheduled",
    ]
    (update,) = scheduled(events)
    assert is_sid("OB", update.aggregate_id) and update.aggregate_type == "SettingsUpdate"
    p = update.payload
    assert (p.sim_sid, p.iccid, p.reason) == (world.sim, ICCID_1, "fleet_assigned")
    profile = world.account.profiles[world.profile]
    assert [(k.name, k.version) for k in p.packages] == [
        (world.profile, version_of(*profile.network_sids))
    ]
    assert world.account.settings_updates[update.aggregate_id].status == "scheduled"
    assert created(update) == {
        "sim_sid": world.sim,
        "iccid": ICCID_1,
        "packages": [{"name": world.profile, "version": p.packages[0].version}],
        "status": "scheduled",
        "date_completed": None,
    }


def test_another_fleet_schedules_another_update_and_leaving_a_fleet_none():
    world = World()
    world.run(UpdateSim(sim=world.sim, fleet="fleet"))
    world.run(CreateFleet(network_access_profile="nap", unique_name="other"))
    (moved,) = scheduled(world.run(UpdateSim(sim=world.sim, fleet="other")))
    assert moved.payload.reason == "fleet_assigned"
    assert len(world.account.settings_updates) == 2  # the first is still in flight
    assert scheduled(world.run(UpdateSim(sim=world.sim, fleet=None))) == []
    assert scheduled(world.run(UpdateSim(sim=world.sim, unique_name="renamed"))) == []


def test_the_version_follows_the_networks_not_their_order_nor_the_profile():
    a, b = "HW" + "a" * 32, "HW" + "b" * 32
    assert version_of(a, b) == version_of(b, a) != version_of(a)
    assert len(version_of()) == 12


# --- a change of many Sims' settings: one event, then steps in chunks -----------------------


def test_adding_a_network_records_one_event_and_sends_the_first_chunk():
    world = World()
    more_sims(world, 3)
    network = networks(world.state)[1]
    asked = envelope(AddNetworkToProfile(network_access_profile="nap", network=network))
    result = decide(world.state, asked)
    assert [e.type for e in result] == ["NetworkAddedToProfile"]
    for event in result:
        evolve(world.state, event)
    (step,) = follow_ups(world.state, asked, result)
    assert step.account_sid == ACCOUNT_A and step.command_id == f"{asked.command_id}:settings:1"
    assert sender_of(step.command) == "internal"
    assert step.command == ScheduleSettingsUpdates(
        cause=asked.command_id,
        reason="profile_networks_changed",
        network_access_profile=world.profile,
        size=decide_settings.CHUNK_SIZE,
    )


def test_a_profile_change_reaches_every_sim_of_every_fleet_using_it_in_chunks(monkeypatch):
    monkeypatch.setattr(decide_settings, "CHUNK_SIZE", 2)
    world = World()
    world.run(CreateFleet(network_access_profile="nap", unique_name="second"))
    world.run(CreateNetworkAccessProfile(unique_name="elsewhere"))
    world.run(CreateFleet(network_access_profile="elsewhere", unique_name="apart"))
    concerned = more_sims(world, 3) + more_sims(world, 2, fleet="second")
    more_sims(world, 1, fleet="apart")  # its profile did not change
    first_network = world.account.profiles[world.profile].network_sids[0]
    network = networks(world.state)[1]
    before = len(world.log)
    world.run(AddNetworkToProfile(network_access_profile="nap", network=network))
    rollout = world.log[before:]
    updates = scheduled(rollout)
    assert sorted(u.payload.sim_sid for u in updates) == sorted(concerned)
    assert {u.payload.reason for u in updates} == {"profile_networks_changed"}
    assert {(k.name, k.version) for u in updates for k in u.payload.packages} == {
        (world.profile, version_of(first_network, network))
    }
    # Five Sims in chunks of two: three steps, each its own decision, Sims in SID order.
    steps = [
        [e for e in rollout if e.command_id == c]
        for c in dict.fromkeys(e.command_id for e in updates)
    ]
    assert [len(s) for s in steps] == [2, 2, 1]
    assert [u.payload.sim_sid for u in updates] == sorted(concerned)
    assert all(step[0].command_id.endswith(f":settings:{n}") for n, step in enumerate(steps, 1))


def test_a_step_decided_again_schedules_nothing_twice(monkeypatch):
    monkeypatch.setattr(decide_settings, "CHUNK_SIZE", 2)
    world = World()
    more_sims(world, 3)
    asked = envelope(
        AddNetworkToProfile(network_access_profile="nap", network=networks(world.state)[1])
    )
    result = decide(world.state, asked)
    for event in result:
        evolve(world.state, event)
    (first,) = follow_ups(world.state, asked, result)
    done = decide(world.state, first)
    for event in done:
        evolve(world.state, event)
    assert len(scheduled(done)) == 2
    again = decide(world.state, first)  # a crash repeated the step
    assert again == []
    # ... and it sends the same next step again: same id, so the processor answers it once.
    assert follow_ups(world.state, first, again) == follow_ups(world.state, first, done)
    (second,) = follow_ups(world.state, first, done)
    assert second.command_id == f"{asked.command_id}:settings:2"
    assert second.command.after == max(e.payload.sim_sid for e in scheduled(done))
    last = decide(world.state, second)
    assert len(scheduled(last)) == 1  # the third Sim of the Fleet (World's own has none)
    assert follow_ups(world.state, second, last) == []  # nothing after it: the rollout ends


def test_removing_a_network_and_changing_a_fleets_profile_schedule_their_sims():
    world = World()
    sims = more_sims(world, 2)
    network = networks(world.state)[1]
    world.run(AddNetworkToProfile(network_access_profile="nap", network=network))
    before = len(world.log)
    world.run(RemoveNetworkFromProfile(network_access_profile="nap", network=network))
    removed = scheduled(world.log[before:])
    assert sorted(u.payload.sim_sid for u in removed) == sorted(sims)
    first_network = world.account.profiles[world.profile].network_sids[0]
    assert {k.version for u in removed for k in u.payload.packages} == {version_of(first_network)}
    other = world.run(CreateNetworkAccessProfile(unique_name="other", networks=[network]))
    before = len(world.log)
    world.run(UpdateFleet(fleet="fleet", network_access_profile="other"))
    moved = scheduled(world.log[before:])
    assert sorted(u.payload.sim_sid for u in moved) == sorted(sims)
    assert {u.payload.reason for u in moved} == {"fleet_profile_changed"}
    assert {(k.name, k.version) for u in moved for k in u.payload.packages} == {
        (other[0].aggregate_id, version_of(network))
    }


def test_a_change_no_sim_feels_schedules_nothing():
    world = World()  # its one Sim has no Fleet
    before = len(world.log)
    world.run(AddNetworkToProfile(network_access_profile="nap", network=networks(world.state)[1]))
    world.run(UpdateFleet(fleet="fleet", data_limit=5))
    assert scheduled(world.log[before:]) == []


# --- statuses, as the network reports them ---------------------------------------------------


def assigned(world: World) -> str:
    events = world.run(UpdateSim(sim=world.sim, fleet="fleet"))
    return scheduled(events)[0].aggregate_id


def report(world: World, sid: str, status: str, **fields):
    return world.run(RecordSettingsUpdateStatus(settings_update=sid, status=status, **fields))


def test_reports_move_an_update_forward_once_and_it_completes_when_successful():
    world = World()
    sid = assigned(world)
    (started,) = report(world, sid, "in-progress")
    assert (started.payload.from_status, started.payload.to_status) == ("scheduled", "in-progress")
    assert changed(started) == {"status": "in-progress"}
    assert world.account.settings_updates[sid].status == "in-progress"
    assert report(world, sid, "in-progress") == []  # the network said it twice
    (done,) = report(world, sid, "successful")
    assert done.aggregate_version == 3
    assert changed(done) == {"status": "successful", "date_completed": done.occurred_at}
    assert sid not in world.account.settings_updates  # finished: no longer in flight
    late = run(world.state, RecordSettingsUpdateStatus(settings_update=sid, status="in-progress"))
    assert (late.http_status, late.code) == (404, 20404)


def test_a_failed_update_keeps_the_networks_reason_and_never_completes():
    world = World()
    sid = assigned(world)
    (failed,) = report(world, sid, "failed", reason="unreachable")
    assert (failed.payload.from_status, failed.payload.reason) == ("scheduled", "unreachable")
    assert changed(failed) == {"status": "failed"}
    assert sid not in world.account.settings_updates


def test_a_successful_update_is_not_moved_back_by_a_late_in_progress():
    world = World()
    sid = assigned(world)
    report(world, sid, "successful")  # the in-progress report came late, or never
    assert isinstance(
        run(world.state, RecordSettingsUpdateStatus(settings_update=sid, status="in-progress")),
        Rejection,
    )


@pytest.mark.parametrize("status", ["scheduled", "done", ""])
def test_a_report_outside_the_networks_statuses_is_refused(status):
    world = World()
    sid = assigned(world)
    refusal = rejected(world.state, RecordSettingsUpdateStatus(settings_update=sid, status=status))
    assert refusal.code == 20001 and "cannot be reported" in refusal.message


def test_another_accounts_update_is_not_found():
    world = World()
    sid = assigned(world)
    refusal = rejected(
        world.state, RecordSettingsUpdateStatus(settings_update=sid, status="successful"), ACCOUNT_B
    )
    assert (refusal.http_status, refusal.code) == (404, 20404)


def test_folding_the_log_gives_the_updates_in_flight_the_decider_had():
    world = World()
    finished = assigned(world)
    report(world, finished, "successful")
    world.run(CreateFleet(network_access_profile="nap", unique_name="other"))
    waiting = scheduled(world.run(UpdateSim(sim=world.sim, fleet="other")))[0].aggregate_id
    report(world, waiting, "in-progress")
    assert fold(world.log).accounts[ACCOUNT_A].settings_updates == world.account.settings_updates
    assert list(world.account.settings_updates) == [waiting]


def test_only_fleetstate_itself_sends_the_steps_and_the_networks_reports():
    step = ScheduleSettingsUpdates(cause="c", reason="r", fleet="HF" + "0" * 32)
    report_ = RecordSettingsUpdateStatus(settings_update="OB" + "0" * 32, status="successful")
    assert {sender_of(step), sender_of(report_)} == {"internal"}


def test_at_the_real_chunk_size_no_decision_holds_more_than_500_updates():
    world = World()
    sims = more_sims(world, 1001)
    before = len(world.log)
    world.run(AddNetworkToProfile(network_access_profile="nap", network=networks(world.state)[1]))
    updates = scheduled(world.log[before:])
    per_decision: dict[str, int] = {}
    for update in updates:
        per_decision[update.command_id] = per_decision.get(update.command_id, 0) + 1
    assert list(per_decision.values()) == [500, 500, 1]
    assert sorted(u.payload.sim_sid for u in updates) == sorted(sims)
