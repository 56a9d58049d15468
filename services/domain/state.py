"""The decider's state: what decide() needs to know, folded from the event log.

A State holds the accounts of one command partition plus the operator's catalogue of
Networks, inventory of SIM cards and who registered which card. Resource records are frozen
Structs, replaced (never mutated) on change; the containers are mappings that evolve()
updates in place, because a fold owns its state. The catalogue containers may be layered
(a partition's own facts over a read-only view of everyone's committed facts: see
services/processor/catalogue.py); the domain only reads and writes them as mappings.
`copy()` gives an independent State for callers who need the old one kept (tests, what-if
decisions).

Which commands were already answered is not domain state: the processor remembers that
(services/processor/memory.py) and never asks the decider twice.
"""

from __future__ import annotations

from collections.abc import MutableMapping

import msgspec


class Network(msgspec.Struct, frozen=True, gc=False, kw_only=True):
    sid: str
    friendly_name: str
    iso_country: str
    identifiers: tuple[tuple[str, str], ...]  # (mcc, mnc)
    version: int


class SimCard(msgspec.Struct, frozen=True, gc=False, kw_only=True):
    iccid: str
    registration_code_hash: str
    version: int


class CardOwner(msgspec.Struct, frozen=True, gc=False):
    """Who registered a SIM card: a card joins one account, once."""

    account_sid: str
    sim_sid: str


class Profile(msgspec.Struct, frozen=True, gc=False, kw_only=True):
    sid: str
    unique_name: str | None
    network_sids: tuple[str, ...]
    version: int


class Fleet(msgspec.Struct, frozen=True, gc=False, kw_only=True):
    sid: str
    unique_name: str | None
    network_access_profile_sid: str
    data_enabled: bool
    data_limit: int
    data_metering: str
    sms_commands_enabled: bool
    sms_commands_url: str | None
    sms_commands_method: str
    ip_commands_url: str | None
    ip_commands_method: str
    version: int


class Sim(msgspec.Struct, frozen=True, gc=False, kw_only=True):
    sid: str
    iccid: str
    unique_name: str | None
    status: str
    fleet_sid: str | None
    callback_url: str | None
    callback_method: str | None
    version: int
    data_suspended: bool = False  # by the usage processor: over its Fleet's data limit


class Account(msgspec.Struct, kw_only=True):
    """One tenant. Mutable containers, immutable records."""

    sid: str
    version: int = 0  # of the Account aggregate itself (AccountCreated)
    friendly_name: str | None = None
    profiles: dict[str, Profile] = {}
    fleets: dict[str, Fleet] = {}
    sims: dict[str, Sim] = {}
    # unique_name -> sid, one index per resource type (names are unique per account and type)
    profile_names: dict[str, str] = {}
    fleet_names: dict[str, str] = {}
    sim_names: dict[str, str] = {}

    # Lookups by SID or unique name: a name never has the SID shape of its own type,
    # so the two can never be confused.
    def find_profile(self, ref: str) -> Profile | None:
        return self.profiles.get(ref) or self.profiles.get(self.profile_names.get(ref, ""))

    def find_fleet(self, ref: str) -> Fleet | None:
        return self.fleets.get(ref) or self.fleets.get(self.fleet_names.get(ref, ""))

    def find_sim(self, ref: str) -> Sim | None:
        return self.sims.get(ref) or self.sims.get(self.sim_names.get(ref, ""))

    def copy(self) -> Account:
        return Account(
            sid=self.sid,
            version=self.version,
            friendly_name=self.friendly_name,
            profiles=dict(self.profiles),
            fleets=dict(self.fleets),
            sims=dict(self.sims),
            profile_names=dict(self.profile_names),
            fleet_names=dict(self.fleet_names),
            sim_names=dict(self.sim_names),
        )


class State(msgspec.Struct, kw_only=True):
    accounts: dict[str, Account] = {}
    networks: MutableMapping[str, Network] = {}  # the operator catalogue, by HW sid
    sim_cards: MutableMapping[str, SimCard] = {}  # the operator inventory, by ICCID
    card_owners: MutableMapping[str, CardOwner] = {}  # registered cards, by ICCID

    def account(self, account_sid: str) -> Account:
        """The account, created empty on first sight (for evolve: it owns the state)."""
        found = self.accounts.get(account_sid)
        if found is None:
            found = self.accounts[account_sid] = Account(sid=account_sid)
        return found

    def peek_account(self, account_sid: str) -> Account | None:
        """The account if known, without creating it (for decide: it never mutates)."""
        return self.accounts.get(account_sid)

    def copy(self) -> State:
        return State(
            accounts={sid: account.copy() for sid, account in self.accounts.items()},
            networks=dict(self.networks),
            sim_cards=dict(self.sim_cards),
            card_owners=dict(self.card_owners),
        )
