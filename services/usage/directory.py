"""What the usage processor knows of Sims and Fleets: a fold of its events partition.

Only the facts usage needs (a Sim's account, ICCID, Fleet and status; a Fleet's data limit and
whether it has data at all), so only the event types listed in `DIRECTORY_EVENT_TYPES` are
decoded (the processor filters on the record's `type` header). `apply` returns the Sims whose
data state may have to change because of the event.

Each entry keeps the version of the last event applied to it, so an event the entry already
holds (a changelog written after it, then the tail of the log read again) is skipped: every
event is applied exactly once. Entries are changelog records: s/<sim> and f/<fleet>.
"""

from __future__ import annotations

import msgspec

from events import event_types as ev
from events.envelope import EventEnvelope
from events.sids import SIM, is_sid
from services.domain import effects

DIRECTORY_EVENT_TYPES = frozenset(
    {"SimRegistered", "SimAssignedToFleet", "SimStatusChanged", "FleetCreated",
     "FleetDataLimitChanged", "SimMovedIn", "SimMovedOut"}
)  # fmt: skip
SIM_KEY, FLEET_KEY = b"s/", b"f/"


class SimEntry(msgspec.Struct, array_like=True, gc=False):
    sid: str
    account_sid: str
    iccid: str
    fleet_sid: str | None = None
    status: str = "new"
    version: int = 0


class FleetEntry(msgspec.Struct, array_like=True, gc=False):
    sid: str
    data_limit: int  # MB
    data_enabled: bool
    version: int = 0
    members: set[str] = set()  # Sim sids: derived, not stored


_encode = msgspec.msgpack.Encoder().encode
_decode_sim = msgspec.msgpack.Decoder(SimEntry).decode
_decode_fleet = msgspec.msgpack.Decoder(tuple[str, int, bool, int]).decode


class Directory:
    def __init__(self) -> None:
        self.sims: dict[str, SimEntry] = {}
        self.fleets: dict[str, FleetEntry] = {}
        self._by_iccid: dict[tuple[str, str], str] = {}  # (account, iccid) -> sim sid
        self.dirty: set[bytes] = set()  # changelog keys changed since the last write

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
        """Folds one event unless its entry already holds it; returns the Sims it may change
        the data state of."""
        p = event.payload
        sid = event.aggregate_id
        version = event.aggregate_version
        if isinstance(p, ev.SimMovedOut):  # an Account event: its Sim left for another account
            return self._remove(p.sim_sid, event.account_sid)
        if event.aggregate_type == "Fleet":
            return self._apply_fleet(event)
        if event.aggregate_type != "Sim":
            return set()
        sim = self.sims.get(sid)
        if sim is not None and sim.version >= version:
            return set()
        created = effects.created(event)
        if created is not None:
            self._add(SimEntry(sid, event.account_sid, created["iccid"], version=version))
        else:
            fields = effects.changed(event)
            if sim is None or fields is None:
                return set()  # not a Sim of this directory's, or a change it keeps nothing of
            if "fleet_sid" in fields:
                self._join(sim, fields["fleet_sid"])
            if "status" in fields:
                sim.status = fields["status"]
            sim.version = version
        self.dirty.add(SIM_KEY + sid.encode())
        return {sid}

    def _apply_fleet(self, event: EventEnvelope) -> set[str]:
        sid, version = event.aggregate_id, event.aggregate_version
        fleet = self.fleets.get(sid)
        if fleet is not None and fleet.version >= version:
            return set()
        created = effects.created(event)
        if created is not None:  # no Sim can be in a Fleet before it exists
            limit, enabled = created["data_limit"], created["data_enabled"]
            self.fleets[sid] = FleetEntry(sid, limit, enabled, version)
            self.dirty.add(FLEET_KEY + sid.encode())
            return set()
        fields = effects.changed(event)
        if fleet is None or fields is None or "data_limit" not in fields:
            return set()
        fleet.data_limit, fleet.version = fields["data_limit"], version
        self.dirty.add(FLEET_KEY + sid.encode())
        return set(fleet.members)

    def _add(self, sim: SimEntry) -> None:
        self.sims[sim.sid] = sim
        self._by_iccid[(sim.account_sid, sim.iccid)] = sim.sid
        if sim.fleet_sid in self.fleets:
            self.fleets[sim.fleet_sid].members.add(sim.sid)

    def _remove(self, sid: str, account_sid: str) -> set[str]:
        sim = self.sims.get(sid)
        if sim is None or sim.account_sid != account_sid:
            return set()  # gone already, or its new account's now
        self._join(sim, None)
        del self.sims[sid]
        self._by_iccid.pop((account_sid, sim.iccid), None)
        self.dirty.add(SIM_KEY + sid.encode())
        return set()

    def _join(self, sim: SimEntry, fleet_sid: str | None) -> None:
        if sim.fleet_sid in self.fleets:
            self.fleets[sim.fleet_sid].members.discard(sim.sid)
        sim.fleet_sid = fleet_sid
        if fleet_sid in self.fleets:
            self.fleets[fleet_sid].members.add(sim.sid)

    # --- the changelog -------------------------------------------------------------------------

    def record_of(self, key: bytes) -> bytes | None:
        sid = key[2:].decode()
        if key.startswith(SIM_KEY):
            sim = self.sims.get(sid)
            return None if sim is None else _encode(sim)
        fleet = self.fleets.get(sid)
        if fleet is None:
            return None
        return _encode((fleet.sid, fleet.data_limit, fleet.data_enabled, fleet.version))

    def load(self, key: bytes, value: bytes) -> None:
        """Restores one changelog record; call `loaded()` after the last."""
        if key.startswith(SIM_KEY):
            sim = _decode_sim(value)
            self.sims[sim.sid] = sim
            self._by_iccid[(sim.account_sid, sim.iccid)] = sim.sid
        else:
            sid, limit, enabled, version = _decode_fleet(value)
            self.fleets[sid] = FleetEntry(sid, limit, enabled, version)

    def loaded(self) -> None:
        """Derives each Fleet's members once every record is in."""
        for sim in self.sims.values():
            if sim.fleet_sid in self.fleets:
                self.fleets[sim.fleet_sid].members.add(sim.sid)
