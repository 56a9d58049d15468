"""Data-usage commands: what the usage processor asks of a Sim when a threshold is crossed.

The usage processor decides from a view of the log that may lag behind this one; the decider
has the Sim's and its Fleet's current state, so it has the last word:
- A suspension is appended only when the Sim is not suspended already and the usage it reports
  still passes the limit of the Sim's current Fleet (a limit raised meanwhile wins). Otherwise
  nothing is appended: the usage processor converges when it reads the same events.
- A resumption is appended only for a suspended Sim.
- The 250 KB activation is appended only for a `ready` Sim (anything else: it was activated,
  deactivated or never readied; nothing to do).
An unknown Sim is 404 20404, like any other command about it.
"""

from __future__ import annotations

from events.commands import ActivateSimOnDataUsage, ResumeSimData, SuspendSimData
from events.event_types import SimDataResumed, SimDataSuspended, SimStatusChanged
from services.domain import rejections, rules
from services.domain.emit import Emitter
from services.domain.state import Account, Sim, State

AGGREGATE = "Sim"


def _existing_sim(account: Account, ref: str) -> Sim:
    sim = account.find_sim(ref)
    if sim is None:
        raise rejections.not_found("Sim", ref)
    return sim


def suspend_sim_data(state: State, account: Account, cmd: SuspendSimData, out: Emitter) -> None:
    """Expects: an existing Sim with data, in a Fleet whose limit the usage passes."""
    sim = _existing_sim(account, cmd.sim)
    fleet = account.fleets.get(sim.fleet_sid) if sim.fleet_sid else None
    if sim.data_suspended or fleet is None:
        return
    if not rules.over_data_limit(cmd.data_used, fleet.data_limit):
        return  # stale: the limit was raised (or the Sim moved) after the usage was seen
    out.emit(
        AGGREGATE,
        sim.sid,
        sim.version,
        SimDataSuspended(
            period_start=cmd.period_start,
            period_end=cmd.period_end,
            data_used=cmd.data_used,
            data_limit=fleet.data_limit,
        ),
    )


def resume_sim_data(state: State, account: Account, cmd: ResumeSimData, out: Emitter) -> None:
    """Expects: an existing Sim; appends only if its data is suspended."""
    sim = _existing_sim(account, cmd.sim)
    if not sim.data_suspended:
        return
    out.emit(
        AGGREGATE,
        sim.sid,
        sim.version,
        SimDataResumed(
            period_start=cmd.period_start,
            period_end=cmd.period_end,
            data_used=cmd.data_used,
            data_limit=cmd.data_limit,
            reason=cmd.reason,
        ),
    )


def activate_sim_on_data_usage(
    state: State, account: Account, cmd: ActivateSimOnDataUsage, out: Emitter
) -> None:
    """Expects: an existing Sim; appends only for a `ready` one that used 250 KB."""
    sim = _existing_sim(account, cmd.sim)
    if sim.status != "ready" or cmd.data_used < rules.ACTIVATION_BYTES:
        return
    out.emit(
        AGGREGATE,
        sim.sid,
        sim.version,
        SimStatusChanged(from_status="ready", to_status="active", reason=rules.DATA_USAGE),
    )


USAGE_HANDLERS = {
    SuspendSimData: suspend_sim_data,
    ResumeSimData: resume_sim_data,
    ActivateSimOnDataUsage: activate_sim_on_data_usage,
}
