"""One command partition's state, and its records in the changelog and the catalogue table.

The state is the domain's `State` for the accounts of this partition. Its catalogue mappings
(Networks, SIM cards, card owners) are layered: this partition's own facts first, then the
committed facts of every partition as read from the catalogue table (`Catalogue`). Own facts
are what this partition decided (the operator's partition provisions Networks and cards;
every partition registers cards); they stay visible to its next decisions before the table
shows them.

Changelog keys name one record each, so a batch writes only what it changed:
  a/<account>            the Account itself        p/<account>/<sid>  a Network Access Profile
  f/<account>/<sid>      a Fleet                   s/<account>/<sid>  a Sim
  n/<sid>                a Network (own fact)      c/<iccid>          a SIM card (own fact)
Card owners are not stored: they follow from the Sims. The catalogue table uses the same
n/ and c/ keys, and o/<iccid> for a card's owner. Values are msgpack of the domain's records.
"""

from __future__ import annotations

from collections import ChainMap

import msgspec

from events.envelope import EventEnvelope
from services.domain import State, aggregate_version, evolve
from services.domain.state import Account, CardOwner, Fleet, Network, Profile, Sim, SimCard

ACCOUNT, PROFILE, FLEET, SIM = b"a/", b"p/", b"f/", b"s/"
NETWORK, CARD, OWNER = b"n/", b"c/", b"o/"
_PREFIX_OF = {
    "Account": ACCOUNT,
    "NetworkAccessProfile": PROFILE,
    "Fleet": FLEET,
    "Sim": SIM,
    "Network": NETWORK,
    "SimCard": CARD,
}


class AccountRecord(msgspec.Struct, frozen=True, gc=False):
    sid: str
    version: int
    friendly_name: str | None


_encode = msgspec.msgpack.Encoder().encode
_DECODERS = {
    prefix: msgspec.msgpack.Decoder(kind).decode
    for prefix, kind in (
        (ACCOUNT, AccountRecord),
        (PROFILE, Profile),
        (FLEET, Fleet),
        (SIM, Sim),
        (NETWORK, Network),
        (CARD, SimCard),
        (OWNER, CardOwner),
    )
}


def decode_record(key: bytes, value: bytes):
    return _DECODERS[key[:2]](value)


class Catalogue:
    """Every partition's committed catalogue facts, as the catalogue table delivers them."""

    def __init__(self) -> None:
        self.networks: dict[str, Network] = {}
        self.sim_cards: dict[str, SimCard] = {}
        self.card_owners: dict[str, CardOwner] = {}
        self._tables = {NETWORK: self.networks, CARD: self.sim_cards, OWNER: self.card_owners}

    def apply(self, key: bytes, value: bytes | None) -> None:
        table = self._tables.get(key[:2])
        if table is None:
            return  # a kind of fact this version does not read
        name = key[2:].decode()
        if value is None:
            table.pop(name, None)
        else:
            table[name] = decode_record(key, value)

    def records(self) -> dict[bytes, bytes]:
        """The table's contents as records (to compare a partition's own facts with)."""
        return {
            prefix + name.encode(): _encode(record)
            for prefix, table in self._tables.items()
            for name, record in table.items()
        }


class PartitionState:
    """The decider's state of one partition, with the changelog keys each batch changed."""

    def __init__(self) -> None:
        self.own_networks: dict[str, Network] = {}
        self.own_cards: dict[str, SimCard] = {}
        self.own_owners: dict[str, CardOwner] = {}
        # While restoring, the catalogue is this partition's own facts alone: the versions a
        # tail fold compares with must be this partition's.
        self.state = State(
            accounts={},
            networks=self.own_networks,
            sim_cards=self.own_cards,
            card_owners=self.own_owners,
        )
        self.dirty: set[bytes] = set()  # changelog keys to write
        self.published: set[bytes] = set()  # catalogue keys to write

    def attach(self, catalogue: Catalogue) -> None:
        """From now on decisions read every partition's committed facts too."""
        self.state.networks = ChainMap(self.own_networks, catalogue.networks)
        self.state.sim_cards = ChainMap(self.own_cards, catalogue.sim_cards)
        self.state.card_owners = ChainMap(self.own_owners, catalogue.card_owners)

    # --- changes -----------------------------------------------------------------------------

    def apply(self, event: EventEnvelope) -> None:
        """Folds a decided event and notes the records it changed."""
        evolve(self.state, event)
        prefix = _PREFIX_OF.get(event.aggregate_type, SIM)
        if prefix in (NETWORK, CARD):
            key = prefix + event.aggregate_id.encode()
            self.dirty.add(key)
            self.published.add(key)
        else:
            scope = event.account_sid if prefix == ACCOUNT else f"{event.account_sid}/"
            sid = "" if prefix == ACCOUNT else event.aggregate_id
            self.dirty.add(prefix + f"{scope}{sid}".encode())
        if event.type == "SimRegistered":
            self.published.add(OWNER + event.payload.iccid.encode())

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
            record = AccountRecord(record.sid, record.version, record.friendly_name)
        return _encode(record)

    def _record(self, key: bytes):
        prefix, name = key[:2], key[2:].decode()
        if prefix == NETWORK:
            return self.own_networks.get(name)
        if prefix == CARD:
            return self.own_cards.get(name)
        if prefix == OWNER:
            return self.own_owners.get(name)
        if prefix == ACCOUNT:
            return self.state.accounts.get(name)
        account_sid, _, sid = name.partition("/")
        account = self.state.accounts.get(account_sid)
        if account is None:
            return None
        return {PROFILE: account.profiles, FLEET: account.fleets, SIM: account.sims}[prefix].get(
            sid
        )

    # --- restore -----------------------------------------------------------------------------

    def load(self, key: bytes, value: bytes) -> None:
        """Restores one changelog record."""
        record = decode_record(key, value)
        prefix = key[:2]
        if prefix == NETWORK:
            self.own_networks[record.sid] = record
        elif prefix == CARD:
            self.own_cards[record.iccid] = record
        elif prefix == ACCOUNT:
            account = self.state.account(record.sid)
            account.version, account.friendly_name = record.version, record.friendly_name
        else:
            account = self.state.account(key[2:].decode().partition("/")[0])
            if prefix == PROFILE:
                account.profiles[record.sid] = record
                _index(account.profile_names, record)
            elif prefix == FLEET:
                account.fleets[record.sid] = record
                _index(account.fleet_names, record)
            else:
                account.sims[record.sid] = record
                _index(account.sim_names, record)
                self.own_owners[record.iccid] = CardOwner(account.sid, record.sid)

    def own_facts(self) -> dict[bytes, bytes]:
        """This partition's catalogue facts as table records (to republish what is missing)."""
        facts = {}
        for prefix, table in ((NETWORK, self.own_networks), (CARD, self.own_cards)):
            for name, record in table.items():
                facts[prefix + name.encode()] = _encode(record)
        for iccid, owner in self.own_owners.items():
            facts[OWNER + iccid.encode()] = _encode(owner)
        return facts


def _index(names: dict[str, str], record) -> None:
    if record.unique_name is not None:
        names[record.unique_name] = record.sid
