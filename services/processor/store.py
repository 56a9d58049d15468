"""One command partition's state, and its records in the changelog and the catalogue table.

The state is the domain's `State` for what this partition decides: the accounts whose commands
land here and the SIM cards whose ICCIDs do. Its Networks are layered: this partition's own
(the operator's partition provisions them) first, then the committed Networks of every
partition as the catalogue table delivers them (`Catalogue`); own facts stay visible to this
partition's next decisions before the table shows them.

Changelog keys name one record each, so a batch writes only what it changed:
  a/<account>            the Account itself        p/<account>/<sid>  a Network Access Profile
  f/<account>/<sid>      a Fleet                   s/<account>/<sid>  a Sim
  r/<account>/<sid>      a registration waiting    x/<account>/<sid>  a Sim that moved away
  d/<account>/<sid>      a device command in flight (deleted when it finishes)
  u/<account>/<sid>      a Settings Update in flight (deleted when it finishes)
  e/<account>/<sid>      an eSIM Profile in flight (deleted when it finishes)
  n/<sid>                a Network (own fact)      c/<iccid>          a SIM card this partition
                                                                      is the one writer of
  i/<address>            an address this partition is the one writer of (held or free)
The catalogue table uses the same n/ keys. Values are msgpack of the domain's records.
"""

from __future__ import annotations

from collections import ChainMap

import msgspec

from events.envelope import EventEnvelope
from events.ip_pools import address_number
from services.domain import State, aggregate_version, evolve
from services.domain.state import (
    Account,
    CardHolder,
    DeviceCommand,
    EsimProfile,
    Fleet,
    IpLease,
    Network,
    Profile,
    Registration,
    SettingsUpdate,
    Sim,
    SimCard,
)

ACCOUNT, PROFILE, FLEET, SIM = b"a/", b"p/", b"f/", b"s/"
REGISTRATION, DEPARTED, NETWORK, CARD = b"r/", b"x/", b"n/", b"c/"
COMMAND, ESIM_PROFILE, SETTINGS_UPDATE = b"d/", b"e/", b"u/"
IP_ADDRESS = b"i/"
_PREFIX_OF = {
    "Account": ACCOUNT,
    "NetworkAccessProfile": PROFILE,
    "Fleet": FLEET,
    "Sim": SIM,
    "Network": NETWORK,
    "SimCard": CARD,
    "SettingsUpdate": SETTINGS_UPDATE,
    "SmsCommand": COMMAND,
    "IpCommand": COMMAND,
    "IpAddress": IP_ADDRESS,
    "EsimProfile": ESIM_PROFILE,
}


class AccountRecord(msgspec.Struct, frozen=True, gc=False):
    sid: str
    version: int
    friendly_name: str | None
    parent_sid: str | None = None
    subaccounts: list[str] = []
    closed: bool = False  # last: a changelog written before closing existed decodes as open


_encode = msgspec.msgpack.Encoder().encode
_DECODERS = {
    prefix: msgspec.msgpack.Decoder(kind).decode
    for prefix, kind in (
        (ACCOUNT, AccountRecord),
        (PROFILE, Profile),
        (FLEET, Fleet),
        (SIM, Sim),
        (REGISTRATION, Registration),
        (DEPARTED, int),
        (SETTINGS_UPDATE, SettingsUpdate),
        (NETWORK, Network),
        (CARD, SimCard),
        (COMMAND, DeviceCommand),
        (IP_ADDRESS, IpLease),
        (ESIM_PROFILE, EsimProfile),
    )
}


def decode_record(key: bytes, value: bytes):
    return _DECODERS[key[:2]](value)


class Catalogue:
    """Every partition's committed Networks, as the catalogue table delivers them."""

    def __init__(self) -> None:
        self.networks: dict[str, Network] = {}

    def apply(self, key: bytes, value: bytes | None) -> None:
        if key[:2] != NETWORK:
            return  # a kind of fact this version does not read
        name = key[2:].decode()
        if value is None:
            self.networks.pop(name, None)
        else:
            self.networks[name] = decode_record(key, value)

    def records(self) -> dict[bytes, bytes]:
        """The table's contents as records (to compare a partition's own facts with)."""
        return {NETWORK + sid.encode(): _encode(n) for sid, n in self.networks.items()}


class PartitionState:
    """The decider's state of one partition, with the changelog keys each batch changed."""

    def __init__(self) -> None:
        self.own_networks: dict[str, Network] = {}
        # While restoring, the Networks are this partition's own alone: the versions a tail
        # fold compares with must be this partition's.
        self.state = State(accounts={}, networks=self.own_networks, sim_cards={})
        self.dirty: set[bytes] = set()  # changelog keys to write
        self.published: set[bytes] = set()  # catalogue keys to write

    def attach(self, catalogue: Catalogue) -> None:
        """From now on decisions read every partition's committed Networks too."""
        self.state.networks = ChainMap(self.own_networks, catalogue.networks)

    # --- changes -----------------------------------------------------------------------------

    def apply(self, event: EventEnvelope) -> None:
        """Folds a decided event and notes the records it changed."""
        evolve(self.state, event)
        prefix = _PREFIX_OF.get(event.aggregate_type, SIM)
        if prefix in (NETWORK, CARD, IP_ADDRESS):
            key = prefix + event.aggregate_id.encode()
            self.dirty.add(key)
            if prefix == NETWORK:
                self.published.add(key)
            return
        account = event.account_sid
        if prefix == ACCOUNT:
            self.dirty.add(ACCOUNT + account.encode())
            if event.type == "SimMovedOut":
                self._touch_sim(account, event.payload.sim_sid)
        elif prefix == SIM:
            self._touch_sim(account, event.aggregate_id)
        else:
            self.dirty.add(prefix + f"{account}/{event.aggregate_id}".encode())

    def _touch_sim(self, account: str, sid: str) -> None:
        scoped = f"{account}/{sid}".encode()
        self.dirty.update((SIM + scoped, REGISTRATION + scoped, DEPARTED + scoped))

    def fold(self, event: EventEnvelope) -> bool:
        """Applies a logged event unless the state already holds it (restoring a tail that
        may overlap what the changelog had); True if it was applied."""
        if aggregate_version(self.state, event) >= event.aggregate_version:
            return False
        self.apply(event)
        return True

    def changes(self) -> dict[bytes, bytes | None]:
        """The changelog records of every key changed since the last call."""
        out = {key: self._encoded(key) for key in self.dirty}
        self.dirty.clear()
        return out

    def publications(self) -> dict[bytes, bytes | None]:
        """The catalogue-table records of every own fact changed since the last call."""
        out = {key: self._encoded(key) for key in self.published}
        self.published.clear()
        return out

    def _encoded(self, key: bytes) -> bytes | None:
        record = self._record(key)
        if record is None:
            return None
        if isinstance(record, Account):
            record = AccountRecord(
                record.sid,
                record.version,
                record.friendly_name,
                record.parent_account_sid,
                list(record.subaccounts),
                record.closed,
            )
        return _encode(record)

    def _record(self, key: bytes):
        prefix, name = key[:2], key[2:].decode()
        if prefix == NETWORK:
            return self.own_networks.get(name)
        if prefix == CARD:
            return self.state.sim_cards.get(name)
        if prefix == IP_ADDRESS:
            return self.state.ip_addresses.get(name)
        if prefix == ACCOUNT:
            return self.state.accounts.get(name)
        account_sid, _, sid = name.partition("/")
        account = self.state.accounts.get(account_sid)
        if account is None:
            return None
        records = {
            PROFILE: account.profiles,
            FLEET: account.fleets,
            SETTINGS_UPDATE: account.settings_updates,
            SIM: account.sims,
            REGISTRATION: account.registrations,
            DEPARTED: account.departed,
            COMMAND: account.commands,
            ESIM_PROFILE: account.esim_profiles,
        }
        return records[prefix].get(sid)

    # --- restore -----------------------------------------------------------------------------

    def load(self, key: bytes, value: bytes) -> None:
        """Restores one changelog record."""
        record = decode_record(key, value)
        prefix = key[:2]
        if prefix == NETWORK:
            self.own_networks[record.sid] = record
        elif prefix == CARD:
            self.state.sim_cards[record.iccid] = record
        elif prefix == IP_ADDRESS:
            self.state.ip_addresses[record.address] = record
            holder = record.holder
            if holder is not None:  # the index of who holds what, by Sim
                self.state.ip_holders[CardHolder(holder.account_sid, holder.sim_sid)] = (
                    record.address
                )
                self.state.ip_free.take(address_number(record.address))
        elif prefix == ACCOUNT:
            account = self.state.account(record.sid)
            account.version, account.friendly_name = record.version, record.friendly_name
            account.parent_account_sid = record.parent_sid
            account.subaccounts = dict.fromkeys(record.subaccounts)
            account.closed = record.closed
        else:
            account_sid, _, sid = key[2:].decode().partition("/")
            account = self.state.account(account_sid)
            if prefix == PROFILE:
                account.profiles[sid] = record
                _index(account.profile_names, record)
            elif prefix == FLEET:
                account.fleets[sid] = record
                _index(account.fleet_names, record)
            elif prefix == SIM:
                account.sims[sid] = record
                _index(account.sim_names, record)
                account.sim_iccids[record.iccid] = sid
            elif prefix == SETTINGS_UPDATE:
                account.settings_updates[sid] = record
            elif prefix == REGISTRATION:
                account.registrations[sid] = record
            elif prefix == COMMAND:
                account.commands[sid] = record
            elif prefix == ESIM_PROFILE:
                account.esim_profiles[sid] = record
            else:
                account.departed[sid] = record

    def own_facts(self) -> dict[bytes, bytes]:
        """This partition's catalogue facts as table records (to republish what is missing)."""
        return {NETWORK + sid.encode(): _encode(n) for sid, n in self.own_networks.items()}


def _index(names: dict[str, str], record) -> None:
    if record.unique_name is not None:
        names[record.unique_name] = record.sid
