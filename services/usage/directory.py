"""What the usage processor knows of Sims and Fleets: a fold of its events partition.

Only the facts usage needs (a Sim's account, ICCID, Fleet and status; a Fleet's data limit and
whether it has data at all), so recovery decodes only the event types listed in
`DIRECTORY_EVENT_TYPES` (the processor filters on the record's `type` header). `apply` returns
the Sims whose data state may have to change because of the event.
"""

from __future__ import annotations

from events import event_types as ev
from events.envelope import EventEnvelope
from events.sids import SIM, is_sid

DIRECTORY_EVENT_TYPES = frozenset(
    {"SimRegistered", "SimAssignedToFleet", "SimStatusChanged", "FleetCreated",
     "FleetDataLimitChanged"}
)  # fmt: skip


class SimEntry:
    __slots__ = ("sid", "account_sid", "iccid", "fleet_sid", "status")

    def __init__(self, sid: str, account_sid: str, iccid: str) -> None:
        self.sid = sid
        self.account_sid = account_sid
        self.iccid = iccid
        self.fleet_sid: str | None = None
        self.status = "new"


class FleetEntry:
    __slots__ = ("sid", "data_limit", "data_enabled", "members")

    def __init__(self, sid: str, data_limit: int, data_enabled: bool) -> None:
        self.sid = sid
        self.data_limit = data_limit  # MB
        self.data_enabled = data_enabled
        self.members: set[str] = set()  # Sim sids


class Directory:
    def __init__(self) -> None:
        self.sims: dict[str, SimEntry] = {}
        self.fleets: dict[str, FleetEntry] = {}
        self._by_iccid: dict[tuple[str, str], str] = {}  # (account, iccid) -> sim sid

    def resolve(self, account_sid: str, ref: str) -> SimEntry | None:
        """The account's Sim with this SID or ICCID; another account's is unknown here."""
        if is_sid(SIM, ref):
            sim = self.sims.get(ref)
            return sim if sim is not None and sim.account_sid == account_sid else None
        sid = self._by_iccid.get((account_sid, ref))
        return None if sid is None else self.sims[sid]

    def fleet_of(self, sim: SimEntry) -> FleetEntry | None:
        return None if sim.fleet_sid is None else self.fleets.get(sim.fleet_sid)

    def apply(self, event: EventEnvelope) -> set[str]:
        """Folds one event; returns the Sims it may change the data state of."""
        p = event.payload
        sid = event.aggregate_id
        if isinstance(p, ev.SimRegistered):
            self.sims[sid] = SimEntry(sid, event.account_sid, p.iccid)
            self._by_iccid[(event.account_sid, p.iccid)] = sid
            return {sid}
        if isinstance(p, ev.SimAssignedToFleet):
            sim = self.sims[sid]
            if sim.fleet_sid in self.fleets:
                self.fleets[sim.fleet_sid].members.discard(sid)
            sim.fleet_sid = p.to_fleet_sid
            if p.to_fleet_sid in self.fleets:
                self.fleets[p.to_fleet_sid].members.add(sid)
            return {sid}
        if isinstance(p, ev.SimStatusChanged):
            self.sims[sid].status = p.to_status
            return {sid}
        if isinstance(p, ev.FleetCreated):
            self.fleets[sid] = FleetEntry(sid, p.data_limit, p.data_enabled)
            return set()
        if isinstance(p, ev.FleetDataLimitChanged):
            fleet = self.fleets[sid]
            fleet.data_limit = p.to_data_limit
            return set(fleet.members)
        return set()
