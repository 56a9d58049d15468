"""Settings Updates (OB): what reaches a SIM when a change reaches its settings.

A Sim's settings are what its Fleet's Network Access Profile lets it use. A Settings Update is
scheduled for a Sim whenever that changes:
- the Sim is assigned to a Fleet, or to another Fleet (UpdateSim: in the same decision, one
  update for that one Sim; unassigning sends nothing: there is no package to hold);
- its Fleet's Network Access Profile changes (UpdateFleet), or that profile's Networks change
  (AddNetworkToProfile, RemoveNetworkFromProfile): the change records its own one event, and
  follow_ups sends ScheduleSettingsUpdates, which schedules the Sims concerned in chunks of
  CHUNK_SIZE, in SID order, each step sending the next. One decision never holds more than a
  chunk of events, however many Sims use the profile.

The package (one per update): `name` is the profile's SID, `version` the first 12 hex digits of
the SHA-256 of its Network SIDs, sorted and joined by commas: derived from the state alone, so
the same Networks give the same version on every replay and in every profile (removing a
Network and adding it back returns to the version before).

A step computes the package when it runs, from the profile as it is then: if the profile
changes again while a rollout is under way, the later chunks already carry the newer version,
and the newer change's own rollout follows; a Sim's newest update always names what it should
hold. A Sim assigned to a Fleet during a rollout gets its own update from the assignment.

Each update's SID derives from the cause (the command that made the change) and the Sim, so a
step decided again schedules nothing twice; a step's id derives from the cause and its chunk
number. Statuses then move as the network reports them (RecordSettingsUpdateStatus, from the
ingress): scheduled -> in-progress -> successful or failed, forward only; a report repeated or
late (the update is past it) changes nothing; a report for an update no longer in flight is
refused 404 20404, as a receipt for a finished device command is.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from hashlib import sha256

from events.commands import RecordSettingsUpdateStatus, ScheduleSettingsUpdates
from events.event_types import (
    SettingsPackage,
    SettingsUpdateScheduled,
    SettingsUpdateStatusChanged,
)
from events.sids import SETTINGS_UPDATE, derive_sid
from services.domain import rejections
from services.domain.emit import Emitter
from services.domain.rejections import invalid
from services.domain.state import Account, Fleet, Sim, State
from services.echo import shown

AGGREGATE = "SettingsUpdate"
CHUNK_SIZE = 500
# How far along each status is: a report only ever moves an update forward.
PROGRESS = {"scheduled": 0, "in-progress": 1, "successful": 2, "failed": 2}
FINISHED = frozenset({"successful", "failed"})
FLEET_ASSIGNED = "fleet_assigned"
FLEET_PROFILE_CHANGED = "fleet_profile_changed"
PROFILE_NETWORKS_CHANGED = "profile_networks_changed"


def networks_version(network_sids: Iterable[str]) -> str:
    return sha256(",".join(sorted(network_sids)).encode()).hexdigest()[:12]


def packages_of(account: Account, fleet: Fleet) -> list[SettingsPackage]:
    """What a Sim of `fleet` holds once its settings are up to date."""
    profile = account.profiles[fleet.network_access_profile_sid]
    return [SettingsPackage(name=profile.sid, version=networks_version(profile.network_sids))]


def settings_update_sid(cause: str, account_sid: str, sim_sid: str) -> str:
    return derive_sid(SETTINGS_UPDATE, cause, f"{account_sid}:{sim_sid}")


def schedule(account: Account, sim: Sim, fleet: Fleet, reason: str, out: Emitter, cause: str):
    """One update for `sim`, to the settings of `fleet`, unless `cause` scheduled it already."""
    sid = settings_update_sid(cause, account.sid, sim.sid)
    if sid in account.settings_updates:
        return
    event = SettingsUpdateScheduled(
        sim_sid=sim.sid, iccid=sim.iccid, packages=packages_of(account, fleet), reason=reason
    )
    out.emit(AGGREGATE, sid, 0, event)


def fleets_concerned(account: Account, cmd: ScheduleSettingsUpdates) -> dict[str, Fleet]:
    if cmd.fleet is not None:
        fleet = account.fleets.get(cmd.fleet)
        return {} if fleet is None else {fleet.sid: fleet}
    profile = cmd.network_access_profile
    return {sid: f for sid, f in account.fleets.items() if f.network_access_profile_sid == profile}


def chunk_of(account: Account, cmd: ScheduleSettingsUpdates) -> tuple[list[Sim], bool]:
    """The Sims of the step's chunk, in SID order, and whether any come after them. The same
    answer before and after the step's own events (they change no Sim), so follow_ups reads
    where the next step starts from the state the step left."""
    fleets = fleets_concerned(account, cmd)
    after = cmd.after or ""
    candidates = (s for s in account.sims.values() if s.fleet_sid in fleets and s.sid > after)
    # One pass over the account's Sims, keeping the smallest: no sort of every Sim per step.
    found = heapq.nsmallest(cmd.size + 1, candidates, key=lambda s: s.sid)
    return found[: cmd.size], len(found) > cmd.size


def schedule_settings_updates(
    state: State, account: Account, cmd: ScheduleSettingsUpdates, out: Emitter
) -> None:
    """A chunk of the rollout `cmd.cause` started: one update per Sim of the chunk."""
    if cmd.size < 1:
        raise invalid("A chunk holds at least one Sim")
    sims, _ = chunk_of(account, cmd)
    fleets = fleets_concerned(account, cmd)
    for sim in sims:
        schedule(account, sim, fleets[sim.fleet_sid], cmd.reason, out, cmd.cause)


def record_settings_update_status(
    state: State, account: Account, cmd: RecordSettingsUpdateStatus, out: Emitter
) -> None:
    """Expects: the update in flight, and a status it has not reached yet."""
    update = account.settings_updates.get(cmd.settings_update)
    if update is None:
        raise rejections.not_found("Settings Update in flight", cmd.settings_update)
    if cmd.status not in PROGRESS or cmd.status == "scheduled":
        raise invalid(f"A Settings Update cannot be reported {shown(cmd.status)}")
    if PROGRESS[cmd.status] <= PROGRESS[update.status]:
        return  # repeated or late: the update is already past it
    changed = SettingsUpdateStatusChanged(
        sim_sid=update.sim_sid,
        from_status=update.status,
        to_status=cmd.status,
        reason=cmd.reason if cmd.status == "failed" else None,
    )
    out.emit(AGGREGATE, update.sid, update.version, changed)


SETTINGS_HANDLERS = {
    ScheduleSettingsUpdates: schedule_settings_updates,
    RecordSettingsUpdateStatus: record_settings_update_status,
}
