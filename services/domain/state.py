"""The decider's state: what decide() needs to know, folded from the event log.

One State holds every account of the partitions a processor owns plus the operator's
catalogue of Networks and inventory of SIM cards. Resource records are frozen Structs,
replaced (never mutated) on change; the containers are plain dicts that evolve() updates in
place, because a fold owns its state. `copy()` gives an independent State for callers who
need the old one kept (tests, what-if decisions).
"""

from __future__ import annotations

import msgspec

# How many recent command ids per account are remembered for de-duplication. Older retries
# are still harmless: creates derive their SID from the command id and find it taken.
DEDUP_WINDOW = 10_000


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
    # Who registered it, if anyone: a card joins one account, once.
    account_sid: str | None = None
    sim_sid: str | None = None


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
    # Recently answered command ids, oldest first (dicts keep insertion order).
    recent_commands: dict[str, None] = {}

    # Lookups by SID or unique name: a name never has the SID shape of its own type,
    # so the two can never be confused.
    def find_profile(self, ref: str) -> Profile | None:
        return self.profiles.get(ref) or self.profiles.get(self.profile_names.get(ref, ""))

    def find_fleet(self, ref: str) -> Fleet | None:
        return self.fleets.get(ref) or self.fleets.get(self.fleet_names.get(ref, ""))

    def find_sim(self, ref: str) -> Sim | None:
        return self.sims.get(ref) or self.sims.get(self.sim_names.get(ref, ""))

    def remember_command(self, command_id: str) -> None:
        if command_id in self.recent_commands:
            return
        self.recent_commands[command_id] = None
        if len(self.recent_commands) > DEDUP_WINDOW:
            del self.recent_commands[next(iter(self.recent_commands))]

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
            recent_commands=dict(self.recent_commands),
        )


class State(msgspec.Struct, kw_only=True):
    # Operator commands are de-duplicated like any account's: the operator pseudo-account
    # (OPERATOR_ACCOUNT_SID) has its own entry in `accounts`.
    accounts: dict[str, Account] = {}
    networks: dict[str, Network] = {}  # the operator catalogue, by HW sid
    sim_cards: dict[str, SimCard] = {}  # the operator inventory, by ICCID

    def account(self, account_sid: str) -> Account:
        """The account, created empty on first sight (for evolve: it owns the state)."""
        found = self.accounts.get(account_sid)
        if found is None:
            found = self.accounts[account_sid] = Account(sid=account_sid)
        return found

    def peek_account(self, account_sid: str) -> Account | None:
        """The account if known, without creating it (for decide: it never mutates)."""
        return self.accounts.get(account_sid)

    def seen_command(self, account_sid: str, command_id: str) -> bool:
        """True if this command already produced events (the processor answers with its
        first outcome). Distinguishes a duplicate from a no-op, both of which decide to []."""
        account = self.accounts.get(account_sid)
        return account is not None and command_id in account.recent_commands

    def copy(self) -> State:
        return State(
            accounts={sid: account.copy() for sid, account in self.accounts.items()},
            networks=dict(self.networks),
            sim_cards=dict(self.sim_cards),
        )
