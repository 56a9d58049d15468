"""A realistic command mix, shared by the processor's tests, its benchmark and the chaos run.

Phase one is the operator's: carrier networks and SIM cards into the catalogue and inventory.
Phase two is the accounts': each created, then a profile, Fleets, registered SIMs assigned and
activated, data limits changed, and some commands that must be rejected (a duplicate name,
activation without a Fleet). Deterministic for a seed.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime

from events.commands import (
    AddNetworkToProfile,
    CommandEnvelope,
    CreateAccount,
    CreateEsimProfile,
    CreateFleet,
    CreateNetworkAccessProfile,
    NetworkIdentifier,
    ProvisionNetwork,
    ProvisionSimCard,
    RegisterSim,
    RemoveNetworkFromProfile,
    UpdateFleet,
    UpdateSim,
)
from events.sids import NETWORK, OPERATOR_ACCOUNT_SID, derive_sid

NETWORKS = [
    ("T-Mobile USA", "US", "310", "260"),
    ("Vodafone UK", "GB", "234", "15"),
    ("Telekom Deutschland", "DE", "262", "01"),
]


def _envelope(account_sid: str, command, command_id: str) -> CommandEnvelope:
    return CommandEnvelope(
        command_id=command_id,
        account_sid=account_sid,
        actor="workload",
        issued_at=datetime.now(UTC),
        command=command,
    )


class Workload:
    """With `families`, every odd account is a subaccount of the account before it; with
    `spare_cards`, that many more cards are provisioned for `contests()`; with
    `every_resource`, the steady mix also orders eSIM Profiles and adds and removes the
    profile's Networks (each change a rollout of Settings Updates)."""

    def __init__(
        self,
        seed: int,
        accounts: int,
        sims_per_account: int = 4,
        families: bool = False,
        spare_cards: int = 0,
        every_resource: bool = False,
    ) -> None:
        self.rng = random.Random(seed)
        self.seed = seed
        self.accounts = [derive_sid("AC", f"workload-{seed}-{i}") for i in range(accounts)]
        self.sims_per_account = sims_per_account
        self.families = families
        self.spare_cards = spare_cards
        self.every_resource = every_resource
        self.network_sids: list[str] = []  # the catalogue's, once operator_commands() made it
        self._n = 0
        self._register_ids: dict[tuple[str, str], str] = {}  # (account, iccid) -> command id

    def _id(self) -> str:
        self._n += 1
        return f"wl-{self.seed}-{self._n}"

    def iccid(self, account: int, sim: int) -> str:
        return f"89{self.seed % 1000:03d}{account:06d}{sim:04d}0000"  # 19 digits

    def code(self, account: int, sim: int) -> str:
        return f"RC{account:04d}{sim:04d}"  # 10 characters

    def operator_commands(self) -> list[CommandEnvelope]:
        out = [
            _envelope(
                OPERATOR_ACCOUNT_SID,
                ProvisionNetwork(
                    friendly_name=name,
                    iso_country=country,
                    identifiers=[NetworkIdentifier(mcc=mcc, mnc=mnc)],
                ),
                self._id(),
            )
            for name, country, mcc, mnc in NETWORKS
        ]
        # ProvisionNetwork derives each Network's SID from its command id (decide_operator).
        self.network_sids = [derive_sid(NETWORK, e.command_id, OPERATOR_ACCOUNT_SID) for e in out]
        for a in range(len(self.accounts)):
            for s in range(self.sims_per_account):
                card = ProvisionSimCard(iccid=self.iccid(a, s), registration_code=self.code(a, s))
                out.append(_envelope(OPERATOR_ACCOUNT_SID, card, self._id()))
        for k in range(self.spare_cards):
            card = ProvisionSimCard(iccid=self.spare_iccid(k), registration_code=self.code(k, 9999))
            out.append(_envelope(OPERATOR_ACCOUNT_SID, card, self._id()))
        for a, account in enumerate(self.accounts):  # a parent before its subaccounts
            created = CreateAccount(
                friendly_name=f"workload {a}",
                auth_token_hash="0" * 64,
                parent_account_sid=self.parent_of(a),
            )
            out.append(_envelope(account, created, self._id()))
        return out

    def spare_iccid(self, k: int) -> str:
        return f"89{self.seed % 1000:03d}{k:06d}99990000"

    def parent_of(self, a: int) -> str | None:
        return self.accounts[a - 1] if self.families and a % 2 == 1 else None

    def subaccount_of(self, account: str) -> str | None:
        a = self.accounts.index(account)
        if self.families and a % 2 == 0 and a + 1 < len(self.accounts):
            return self.accounts[a + 1]
        return None

    def contests(self) -> list[tuple[CommandEnvelope, CommandEnvelope]]:
        """Each spare card registered by two accounts at once (one wins, one gets 83002)."""
        out = []
        for k in range(self.spare_cards):
            a = self.rng.randrange(len(self.accounts))
            b = (a + 1 + self.rng.randrange(len(self.accounts) - 1)) % len(self.accounts)
            command = RegisterSim(iccid=self.spare_iccid(k), registration_code=self.code(k, 9999))
            out.append(
                (
                    _envelope(self.accounts[a], command, self._id()),
                    _envelope(self.accounts[b], command, self._id()),
                )
            )
        return out

    def move(self, account: str, sim_sid: str) -> CommandEnvelope | None:
        """The winner's new Sim moved to its subaccount, if it has one."""
        sub = self.subaccount_of(account)
        if sub is None:
            return None
        return _envelope(account, UpdateSim(sim=sim_sid, account=sub), self._id())

    def setup_commands(self) -> list[CommandEnvelope]:
        """Per account (created by the operator's commands, answered before these are sent:
        commands of different senders travel on different topics, in no order between them):
        a profile, two Fleets, its SIMs registered."""
        out = []
        for a, account in enumerate(self.accounts):
            profile = CreateNetworkAccessProfile(unique_name="nap")
            out.append(_envelope(account, profile, self._id()))
            for fleet in ("fleet-a", "fleet-b"):
                command = CreateFleet(network_access_profile="nap", unique_name=fleet)
                out.append(_envelope(account, command, self._id()))
            for s in range(self.sims_per_account):
                command = RegisterSim(iccid=self.iccid(a, s), registration_code=self.code(a, s))
                command_id = self._register_ids[(account, command.iccid)] = self._id()
                out.append(_envelope(account, command, command_id))
        return out

    def steady_commands(self, count: int, creates: bool = True) -> list[CommandEnvelope]:
        """`count` commands of the steady mix: mostly changes, some rejections by design; with
        `creates` false, only changes of what the setup made (the live set stays as it is)."""
        out = []
        for _ in range(count):
            a = self.rng.randrange(len(self.accounts))
            account = self.accounts[a]
            roll = self.rng.random()
            sim = self.iccid(a, self.rng.randrange(self.sims_per_account))
            if roll < 0.4:
                command = UpdateFleet(
                    fleet=self.rng.choice(("fleet-a", "fleet-b")),
                    data_limit=self.rng.randrange(1, 2_000_001),
                )
            elif roll < 0.7:
                command = UpdateSim(
                    sim=self._sim_sid(account, sim),
                    fleet=self.rng.choice(("fleet-a", "fleet-b")),
                    status=self.rng.choice(("ready", "active", "inactive")),
                )
            elif roll < 0.85:
                command = UpdateSim(
                    sim=self._sim_sid(account, sim), unique_name=f"sim-{self.rng.randrange(50)}"
                )
            elif roll < 0.95 and not creates:
                command = UpdateFleet(
                    fleet="fleet-b", sms_commands_url=f"https://example.com/{self._n}"
                )
            elif roll < 0.95:
                command = CreateFleet(
                    network_access_profile="nap", unique_name=f"f-{self.rng.randrange(10**9)}"
                )
            elif self.every_resource and roll < 0.97:
                command = CreateEsimProfile(eid=f"{self.rng.randrange(10**32):032d}")
            elif self.every_resource and roll < 0.99 and self.network_sids:
                # One already there, or not, is refused: rejections by design too.
                change = self.rng.choice((AddNetworkToProfile, RemoveNetworkFromProfile))
                network = self.rng.choice(self.network_sids)
                command = change(network_access_profile="nap", network=network)
            else:  # rejected: the name is taken
                command = CreateFleet(network_access_profile="nap", unique_name="fleet-a")
            out.append(_envelope(account, command, self._id()))
        return out

    def sims(self) -> list[tuple[str, str]]:
        """(account_sid, sim_sid) of every Sim the setup phase registers."""
        return [(account, self._sim_sid(account, iccid)) for (account, iccid) in self._register_ids]

    def _sim_sid(self, account: str, iccid: str) -> str:
        # RegisterSim derives the SIM's SID from its command id and account (decide_sim).
        return derive_sid("HS", self._register_ids[(account, iccid)], account)
