"""The decider's state: what decide() needs to know, folded from the event log.

A State holds what one command partition decides about: the accounts whose commands land
there, the SIM cards whose ICCIDs land there (each card has this one writer: its owner, its
reservation), and the operator's catalogue of Networks. Resource records are frozen Structs,
replaced (never mutated) on change; the containers are mappings that evolve() updates in
place, because a fold owns its state. The Networks may be layered (the operator partition's
own facts over a read-only view of the committed catalogue: services/processor/store.py); the
domain only reads and writes them as a mapping.
`copy()` gives an independent State for callers who need the old one kept (tests, what-if
decisions).

Which commands were already answered is not domain state: the processor remembers that
(services/processor/memory.py) and never asks the decider twice.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from datetime import datetime

import msgspec
import msgspec.structs

from events.event_types import FleetCreated
from services.domain.free_addresses import FreeAddresses


class Network(msgspec.Struct, frozen=True, gc=False, kw_only=True):
    sid: str
    friendly_name: str
    iso_country: str
    identifiers: tuple[tuple[str, str], ...]  # (mcc, mnc)
    version: int


class CardHolder(msgspec.Struct, frozen=True, gc=False):
    account_sid: str
    sim_sid: str


class SimCard(msgspec.Struct, frozen=True, gc=False, kw_only=True):
    """A card of the inventory, as its one writer (the partition of its ICCID) knows it."""

    iccid: str
    registration_code_hash: str
    version: int
    owner: CardHolder | None = None  # the account whose Sim it is
    reserved_for: CardHolder | None = None  # a registration being recorded
    reserved_at: datetime | None = None  # when that registration was asked for
    reserved_request: str | None = None  # its RegisterSim


class IpClaim(msgspec.Struct, frozen=True, gc=False):
    """Who holds an address: a Sim, for one of its activations (request)."""

    account_sid: str
    sim_sid: str
    request_id: str


class IpLease(msgspec.Struct, frozen=True, gc=False, kw_only=True):
    """An address of a pool, as its one writer (the partition of its registry block) knows
    it: held for one Sim's activation, or free again (kept, for its version)."""

    address: str
    version: int
    holder: IpClaim | None = None
    pool: str | None = None  # the pool it was allocated from


class Registration(msgspec.Struct, frozen=True, gc=False, kw_only=True):
    """A Sim the account asked the card registry for, not answered yet."""

    sim_sid: str
    iccid: str
    request_id: str  # the RegisterSim command, answered when the registry has answered
    version: int


class Profile(msgspec.Struct, frozen=True, gc=False, kw_only=True):
    sid: str
    unique_name: str | None
    network_sids: tuple[str, ...]
    version: int


# A Fleet's settings are FleetCreated's fields: derived from the event, not restated.
Fleet = msgspec.defstruct(
    "Fleet",
    [
        ("sid", str),
        *((f.name, f.type) for f in msgspec.structs.fields(FleetCreated)),
        ("version", int),
    ],
    frozen=True,
    gc=False,
    kw_only=True,
    module=__name__,
)


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
    registered_at: datetime | None = None  # its first registration, wherever it moved since
    moving_to: str | None = None  # the account it is moving to, until it has moved
    move_request: str | None = None  # the command that asked for the move, answered then
    ip_address: str | None = None  # while active, once the address registry gave it one
    ip_pool: str | None = None  # the pool it came from
    ip_request: str | None = None  # the activation it came for (to give it back as such)
    activated_by: str | None = None  # the command that made it active: the only activation
    # whose address it takes (an answer to an earlier one is stale, and given back)


class DeviceCommand(msgspec.Struct, frozen=True, gc=False, kw_only=True):
    """A to_sim SmsCommand or IpCommand the network has not finished with: receipts move it
    on. Only these are state (a finished command can change no more), so the decider holds
    the commands in flight, not every command ever sent."""

    sid: str  # HC... or HG...
    sim_sid: str
    status: str
    callback_url: str | None
    callback_method: str
    version: int


class EsimProfile(msgspec.Struct, frozen=True, gc=False, kw_only=True):
    """An eSIM Profile the SM-DP+ has not finished with (installed and failed ones change no
    more, so they are not state)."""

    sid: str  # HP...
    status: str
    callback_url: str | None
    callback_method: str
    version: int


class SettingsUpdate(msgspec.Struct, frozen=True, gc=False, kw_only=True):
    """A Settings Update the network has not finished with: its reports move it on. Only
    these are state, like the device commands in flight."""

    sid: str  # OB...
    sim_sid: str
    status: str
    version: int


class Account(msgspec.Struct, kw_only=True):
    """One tenant. Mutable containers, immutable records."""

    sid: str
    version: int = 0  # of the Account aggregate itself (AccountCreated)
    friendly_name: str | None = None
    parent_account_sid: str | None = None
    closed: bool = False  # AccountClosed: only the steps of processes under way still run
    subaccounts: dict[str, None] = {}  # sids, in the order they were added
    registrations: dict[str, Registration] = {}  # by Sim sid: waiting for the card registry
    departed: dict[str, int] = {}  # Sims moved to another account: sid -> their last version
    profiles: dict[str, Profile] = {}
    fleets: dict[str, Fleet] = {}
    sims: dict[str, Sim] = {}
    commands: dict[str, DeviceCommand] = {}  # to_sim device commands in flight, by SID
    settings_updates: dict[str, SettingsUpdate] = {}  # in flight, by SID
    esim_profiles: dict[str, EsimProfile] = {}  # eSIM Profiles in flight, by SID
    # unique_name -> sid, one index per resource type (names are unique per account and type)
    profile_names: dict[str, str] = {}
    fleet_names: dict[str, str] = {}
    sim_names: dict[str, str] = {}
    sim_iccids: dict[str, str] = {}  # iccid -> sid of this account's Sims

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
            parent_account_sid=self.parent_account_sid,
            closed=self.closed,
            subaccounts=dict(self.subaccounts),
            registrations=dict(self.registrations),
            departed=dict(self.departed),
            profiles=dict(self.profiles),
            fleets=dict(self.fleets),
            sims=dict(self.sims),
            settings_updates=dict(self.settings_updates),
            commands=dict(self.commands),
            esim_profiles=dict(self.esim_profiles),
            profile_names=dict(self.profile_names),
            fleet_names=dict(self.fleet_names),
            sim_names=dict(self.sim_names),
            sim_iccids=dict(self.sim_iccids),
        )


class State(msgspec.Struct, kw_only=True):
    accounts: dict[str, Account] = {}
    networks: MutableMapping[str, Network] = {}  # the operator catalogue, by HW sid
    sim_cards: dict[str, SimCard] = {}  # the cards this partition is the one writer of
    ip_addresses: dict[str, IpLease] = {}  # the addresses this partition is the one writer of
    ip_holders: dict[CardHolder, str] = {}  # which of them each Sim holds (derived from them)
    # which addresses no Sim holds (derived from them: free_addresses.py)
    ip_free: FreeAddresses = msgspec.field(default_factory=FreeAddresses)

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
            ip_addresses=dict(self.ip_addresses),
            ip_holders=dict(self.ip_holders),
            ip_free=self.ip_free.copy(),
        )
