"""Random command sequences (valid, invalid and duplicated) against the invariants."""

from __future__ import annotations

import os

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)
from msgspec import UNSET

from events.commands import (
    AddNetworkToProfile,
    CreateAccount,
    CreateFleet,
    CreateNetworkAccessProfile,
    RegisterSim,
    RemoveNetworkFromProfile,
    UpdateFleet,
    UpdateNetworkAccessProfile,
    UpdateSim,
)
from events.envelope import Rejection
from services.domain import decide, evolve, fold

from .support import (
    ACCOUNT_A,
    ACCOUNT_B,
    CODE_1,
    CODE_2,
    ICCID_1,
    ICCID_2,
    envelope,
    operator_world,
)

# Mostly valid values, with a few invalid ones, so that long sequences get somewhere.
MAYBE = UNSET
NAMES = st.sampled_from(["a", "b", "c", "a", "b", "c", None, ""])
URLS = st.sampled_from([MAYBE, MAYBE, MAYBE, None, "https://x.example/c", "ftp://bad"])
METHODS = st.sampled_from([MAYBE, MAYBE, MAYBE, "GET", "post", "PUT"])
LIMITS = st.sampled_from([MAYBE, MAYBE, MAYBE, 1, 500, 2_000_000, 0, 2_000_001])
STATUSES = st.sampled_from(
    [MAYBE, "ready", "active", "inactive", "ready", "active", "inactive", "new", "scheduled"]
)
BOOLS = st.sampled_from([MAYBE, MAYBE, MAYBE, True, False])


def optional(strategy):
    return st.just(MAYBE) | strategy


class DomainMachine(RuleBasedStateMachine):
    @initialize()
    def setup(self):
        self.log = []
        self.state = operator_world(self.log)
        self.sent = []  # every command envelope sent, for exact replays
        self.created = []  # accepted commands that created a resource
        self.created_settings = {}  # fleet sid -> immutable settings at creation
        # Each account starts with a profile, so that Fleets (and then Sims) get somewhere.
        for account in (ACCOUNT_A, ACCOUNT_B):
            self.send(envelope(CreateAccount(friendly_name="x", auth_token_hash="h"), account))
            self.send(envelope(CreateNetworkAccessProfile(unique_name="p0"), account))

    # --- helpers -------------------------------------------------------------------------------

    def send(self, command_envelope):
        before = self.state.copy()
        result = decide(self.state, command_envelope)
        assert self.state == before, "decide mutated the state"
        assert decide(self.state, command_envelope) == result, "decide is not deterministic"
        self.sent.append(command_envelope)
        if isinstance(result, Rejection):
            return
        if result and result[0].aggregate_version == 1 and result[0].type != "AccountCreated":
            self.created.append(command_envelope)
        for event in result:
            evolve(self.state, event)
            self.log.append(event)
            if event.type == "FleetCreated":
                p = event.payload
                settings_ = (p.data_enabled, p.sms_commands_enabled, p.data_metering)
                self.created_settings[event.aggregate_id] = settings_

    def account(self, data, having: str | None = None):
        """An account; with `having`, one that has records of that kind (e.g. "sims")."""
        candidates = [
            sid
            for sid in (ACCOUNT_A, ACCOUNT_B)
            if having is None or getattr(self.state.accounts[sid], having)
        ]
        return data.draw(st.sampled_from(candidates))

    def has(self, kind: str) -> bool:
        return any(getattr(self.state.accounts[sid], kind) for sid in (ACCOUNT_A, ACCOUNT_B))

    def ref(self, data, account_sid, kind):
        account = self.state.accounts.get(account_sid)
        records = getattr(account, kind) if account else {}
        names = [r.unique_name for r in records.values() if r.unique_name]
        known = [*records, *names]
        return data.draw(st.sampled_from([*known, *known, *known, "unknown"]))

    def command(self, data, account_sid, command):
        # Sometimes reuse an earlier command id with a different command: a duplicate.
        reuse = [c.command_id for c in self.sent if c.account_sid == account_sid]
        command_id = data.draw(st.none() | st.sampled_from(reuse)) if reuse else None
        self.send(envelope(command, account_sid, command_id))

    # --- rules --------------------------------------------------------------------------------

    @rule(data=st.data(), name=NAMES)
    def create_profile(self, data, name):
        account = self.account(data)
        catalogue = [*self.state.networks, *self.state.networks, "HWbad"]
        networks = data.draw(st.lists(st.sampled_from(catalogue), max_size=2))
        self.command(data, account, CreateNetworkAccessProfile(unique_name=name, networks=networks))

    @rule(data=st.data(), name=NAMES)
    def rename_profile(self, data, name):
        account = self.account(data)
        ref = self.ref(data, account, "profiles")
        self.command(
            data, account, UpdateNetworkAccessProfile(network_access_profile=ref, unique_name=name)
        )

    @rule(data=st.data(), add=st.booleans())
    def change_profile_networks(self, data, add):
        account = self.account(data)
        ref = self.ref(data, account, "profiles")
        network = data.draw(st.sampled_from([*self.state.networks, "HWbad"]))
        cls = AddNetworkToProfile if add else RemoveNetworkFromProfile
        self.command(data, account, cls(network_access_profile=ref, network=network))

    @rule(data=st.data(), name=NAMES, limit=LIMITS, url=URLS, method=METHODS, enabled=BOOLS)
    def create_fleet(self, data, name, limit, url, method, enabled):
        account = self.account(data)
        profile = self.ref(data, account, "profiles")
        command = CreateFleet(
            network_access_profile=profile,
            unique_name=name,
            data_limit=limit,
            sms_commands_url=url,
            commands_method=method,
            data_enabled=enabled,
            commands_enabled=data.draw(BOOLS),
        )
        self.command(data, account, command)

    @precondition(lambda self: self.has("fleets"))
    @rule(data=st.data(), name=optional(NAMES), limit=LIMITS, url=URLS, method=METHODS)
    def update_fleet(self, data, name, limit, url, method):
        account = self.account(data, "fleets")
        fleet = self.ref(data, account, "fleets")
        immutable = data.draw(
            st.sampled_from([{}] * 6 + [{"data_enabled": False}, {"sms_commands_enabled": True}])
        )
        command = UpdateFleet(
            fleet=fleet,
            unique_name=name,
            data_limit=limit,
            commands_url=url,
            ip_commands_method=method,
            network_access_profile=data.draw(
                optional(st.just(self.ref(data, account, "profiles")))
            ),
            **immutable,
        )
        self.command(data, account, command)

    @rule(
        data=st.data(),
        card=st.sampled_from(
            [(ICCID_1, CODE_1), (ICCID_2, CODE_2)] * 3
            + [
                (ICCID_1, CODE_2),
                ("8901260000000000995", CODE_1),
                (MAYBE, CODE_1),
                (ICCID_2, MAYBE),
            ]
        ),
    )
    def register_sim(self, data, card):
        iccid, code = card
        account = self.account(data)
        self.command(data, account, RegisterSim(iccid=iccid, registration_code=code))

    @precondition(lambda self: self.has("sims"))
    @rule(
        data=st.data(),
        name=st.sampled_from([MAYBE] * 5 + ["a", "b", None, ""]),
        status=STATUSES,
        callback=st.sampled_from([MAYBE] * 4 + ["https://x.example/cb", "ftp://bad"]),
    )
    def update_sim(self, data, name, status, callback):
        account = self.account(data, "sims")
        sim = self.ref(data, account, "sims")
        fleet = self.ref(data, account, "fleets")
        fleet = data.draw(st.sampled_from([MAYBE, MAYBE, fleet, fleet, None]))
        command = UpdateSim(
            sim=sim, unique_name=name, status=status, fleet=fleet, callback_url=callback
        )
        self.command(data, account, command)

    @rule(data=st.data())
    def replay_a_sent_create(self, data):
        # The processor answers a remembered command id itself; a create that reaches the
        # decider again all the same derives the same SID and creates nothing new.
        if self.created:
            assert decide(self.state, data.draw(st.sampled_from(self.created))) == []

    # --- invariants ----------------------------------------------------------------------------

    @invariant()
    def no_ready_or_active_sim_without_a_fleet_of_its_account(self):
        for account in self.state.accounts.values():
            for sim in account.sims.values():
                if sim.status in ("ready", "active"):
                    assert sim.fleet_sid is not None
                if sim.fleet_sid is not None:
                    assert sim.fleet_sid in account.fleets

    @invariant()
    def immutable_fleet_settings_never_change(self):
        for account in self.state.accounts.values():
            for fleet in account.fleets.values():
                settings_ = (fleet.data_enabled, fleet.sms_commands_enabled, fleet.data_metering)
                assert settings_ == self.created_settings[fleet.sid]

    @invariant()
    def unique_names_are_unique_and_indexed(self):
        for account in self.state.accounts.values():
            for records, index in (
                (account.profiles, account.profile_names),
                (account.fleets, account.fleet_names),
                (account.sims, account.sim_names),
            ):
                named = {r.unique_name: r.sid for r in records.values() if r.unique_name}
                assert len(named) == sum(1 for r in records.values() if r.unique_name)
                assert named == index

    @invariant()
    def aggregate_versions_run_from_1_without_gaps(self):
        versions = {}
        for event in self.log:
            versions.setdefault(event.aggregate_id, []).append(event.aggregate_version)
        for seen in versions.values():
            assert seen == list(range(1, len(seen) + 1))

    @invariant()
    def a_sim_card_joins_at_most_one_account(self):
        registered = [
            sim.iccid for account in self.state.accounts.values() for sim in account.sims.values()
        ]
        assert len(registered) == len(set(registered))

    @invariant()
    def folding_the_log_from_nothing_gives_the_deciders_state(self):
        assert fold(self.log) == self.state


DomainMachine.TestCase.settings = settings(
    max_examples=int(os.environ.get("HYPOTHESIS_EXAMPLES", "200")),
    stateful_step_count=50,
    deadline=None,
)
test_domain_state_machine = DomainMachine.TestCase
