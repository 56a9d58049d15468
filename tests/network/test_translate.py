"""What crosses the network interface for Settings Updates, pure: the relay's message for a
scheduled update, and the command a report becomes (once, however often it is resent)."""

from __future__ import annotations

from datetime import UTC, datetime

from events.commands import RecordSettingsUpdateStatus, UpdateSim
from events.network import SettingsPackage, SettingsReport, SettingsToDevice
from services.network.translate import command_of, to_network
from tests.domain.support import ACCOUNT_A, ICCID_1, World

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def test_a_scheduled_settings_update_is_sent_to_the_sim_by_its_sid():
    world = World()
    events = world.run(UpdateSim(sim=world.sim, fleet="fleet"))
    [scheduled] = [e for e in events if e.type == "SettingsUpdateScheduled"]
    message = to_network(scheduled)
    [package] = scheduled.payload.packages
    assert message == SettingsToDevice(
        message_id=scheduled.aggregate_id,
        account_sid=ACCOUNT_A,
        sim_sid=world.sim,
        iccid=ICCID_1,
        packages=[SettingsPackage(name=world.profile, version=package.version)],
        sent_at=scheduled.occurred_at,
    )
    assert [to_network(e) for e in events if e is not scheduled] == [None]


def test_a_report_becomes_one_command_however_often_the_network_sends_it():
    report = SettingsReport(
        report_id="nr-1",
        message_id="OB" + "a" * 32,
        account_sid=ACCOUNT_A,
        sim_sid="HS" + "b" * 32,
        iccid=ICCID_1,
        status="failed",
        reported_at=NOW,
        reason="unreachable",
    )
    first, again = command_of(report), command_of(report)
    assert first.command_id == again.command_id == "network:settings-report:nr-1"
    assert (first.account_sid, first.issued_at, first.actor) == (ACCOUNT_A, NOW, "network")
    assert first.command == RecordSettingsUpdateStatus(
        settings_update="OB" + "a" * 32, status="failed", reason="unreachable"
    )
