"""A Sim's IP address: allocated by the address registry when it becomes active, given back
when it stops; never one address to two active Sims, whatever the accounts and the order the
steps arrive in. Expected state per command, as the decider sees it."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from events.commands import (
    AllocateIpAddress,
    CreateAccount,
    CreateFleet,
    CreateNetworkAccessProfile,
    ProvisionSimCard,
    RecordSimIpAddress,
    RegisterSim,
    ReleaseIpAddress,
    UpdateSim,
    partition_key,
    sender_of,
)
from events.envelope import Rejection, event_ref
from events.ip_pools import IpPools, PoolError, registry_key
from events.sids import OPERATOR_ACCOUNT_SID
from services.domain import decide, evolve
from services.domain.follow_ups import follow_ups, placed

from .support import (
    ACCOUNT_A,
    ACCOUNT_B,
    World,
    accepted,
    aggregate_id,
    envelope,
    networks,
    operator_world,
)

TINY = "10.9.0.0/30"  # two addresses: 10.9.0.1 and 10.9.0.2
SHARED = IpPools(default=TINY)


def card(n: int) -> tuple[str, str]:
    return f"89012600000000{n:05d}", f"CODE{n:06d}"


def sims_of(state, account: str, count: int, first: int, pools: IpPools) -> list[str]:
    """`count` Sims of `account` in a Fleet, registered from new cards."""
    accepted(state, CreateNetworkAccessProfile(networks=networks(state)[:1]), account, pools=pools)
    profile = next(iter(state.accounts[account].profiles))
    fleet = accepted(state, CreateFleet(network_access_profile=profile), account, pools=pools)
    sims = []
    for n in range(first, first + count):
        iccid, code = card(n)
        accepted(state, ProvisionSimCard(iccid=iccid, registration_code=code), OPERATOR_ACCOUNT_SID)
        registered = accepted(state, RegisterSim(iccid=iccid, registration_code=code), account)
        sim = aggregate_id(registered)
        accepted(state, UpdateSim(sim=sim, fleet=aggregate_id(fleet)), account, pools=pools)
        sims.append(sim)
    return sims


def two_accounts(pools: IpPools, per_account: int = 2):
    state = operator_world()
    for account in (ACCOUNT_A, ACCOUNT_B):
        accepted(state, CreateAccount(friendly_name="t", auth_token_hash="h"), account)
    a = sims_of(state, ACCOUNT_A, per_account, 100, pools)
    b = sims_of(state, ACCOUNT_B, per_account, 200, pools)
    return state, a, b


def status(state, account: str, sim: str, to: str, pools: IpPools = SHARED, log=None):
    return accepted(state, UpdateSim(sim=sim, status=to), account, pools=pools, log=log)


def address_of(state, account: str, sim: str) -> str | None:
    return state.accounts[account].sims[sim].ip_address


def active_world(pools: IpPools = IpPools()) -> World:
    world = World(pools)
    world.run(UpdateSim(sim=world.sim, fleet="fleet", status="active"))
    return world


# --- one Sim ----------------------------------------------------------------------------------


def test_an_active_sim_gets_the_lowest_address_of_its_accounts_pool():
    world = active_world()
    sim = world.account.sims[world.sim]
    assert (sim.ip_address, sim.ip_pool) == ("10.64.0.1", "10.64.0.0/10")
    lease = world.state.ip_addresses["10.64.0.1"]
    assert (lease.holder.account_sid, lease.holder.sim_sid) == (ACCOUNT_A, world.sim)
    mine = ("SimStatusChanged", "IpAddressAllocated", "SimIpAddressAssigned")
    kinds = [e.type for e in world.log if e.type in mine]
    assert kinds == ["SimStatusChanged", "IpAddressAllocated", "SimIpAddressAssigned"]
    [allocated] = [e for e in world.log if e.type == "IpAddressAllocated"]
    # The pool is in the log: a replay needs no setting.
    assert (allocated.aggregate_type, allocated.payload.pool) == ("IpAddress", "10.64.0.0/10")


def test_a_sim_that_is_not_active_has_no_address():
    world = World()
    world.run(UpdateSim(sim=world.sim, fleet="fleet", status="ready"))
    assert world.account.sims[world.sim].ip_address is None
    assert not world.state.ip_addresses


def test_deactivating_a_sim_gives_its_address_back():
    world = active_world()
    world.run(UpdateSim(sim=world.sim, status="inactive"))
    assert world.account.sims[world.sim].ip_address is None
    assert world.state.ip_addresses["10.64.0.1"].holder is None
    assert [e.type for e in world.log[-3:]] == [
        "SimStatusChanged",
        "SimIpAddressReleased",
        "IpAddressReleased",
    ]


def test_an_account_with_a_pool_of_its_own_gets_its_addresses_there():
    world = active_world(IpPools(by_account={ACCOUNT_A: "192.168.7.0/24"}))
    assert world.account.sims[world.sim].ip_address == "192.168.7.1"


def test_a_later_change_of_the_setting_never_moves_an_allocated_address():
    world = active_world(IpPools(default="10.1.0.0/24"))
    world.pools = IpPools(default="10.2.0.0/24")
    # The activation's request repeated (a step sent again) under the new setting:
    sim = world.account.sims[world.sim]
    again = AllocateIpAddress(pool="10.2.0.0/24", sim=world.sim, request_id=sim.activated_by)
    assert decide(world.state, envelope(again)) == []
    assert world.account.sims[world.sim].ip_address == "10.1.0.1"
    world.run(UpdateSim(sim=world.sim, status="inactive"))
    assert world.state.ip_addresses["10.1.0.1"].holder is None  # back to the pool it came from


def test_repeated_steps_change_nothing():
    world = active_world()
    sim = world.account.sims[world.sim]
    allocate = AllocateIpAddress(pool="10.64.0.0/10", sim=world.sim, request_id=sim.activated_by)
    record = RecordSimIpAddress(
        sim=world.sim, address="10.64.0.1", pool="10.64.0.0/10", request_id=sim.activated_by
    )
    for command in (allocate, record):
        asked = envelope(command)
        assert decide(world.state, asked) == []
    # The repeated allocation is answered again, with the same address; nothing is released.
    [answer] = follow_ups(world.state, envelope(allocate), [])
    assert answer.command == record
    assert follow_ups(world.state, envelope(record), []) == []


def test_a_stale_release_frees_nothing():
    world = active_world()
    stale = ReleaseIpAddress(address="10.64.0.1", sim=world.sim, request_id="earlier", reason="x")
    assert decide(world.state, envelope(stale)) == []
    assert world.state.ip_addresses["10.64.0.1"].holder is not None


# --- pools shared by accounts ------------------------------------------------------------------


def test_two_accounts_sharing_a_pool_get_different_addresses_and_released_ones_are_reused():
    state, (a1, a2), (b1, b2) = two_accounts(SHARED)
    status(state, ACCOUNT_A, a1, "active")
    status(state, ACCOUNT_B, b1, "active")
    assert {address_of(state, ACCOUNT_A, a1), address_of(state, ACCOUNT_B, b1)} == {
        "10.9.0.1",
        "10.9.0.2",
    }
    freed = address_of(state, ACCOUNT_A, a1)
    status(state, ACCOUNT_A, a1, "inactive")
    status(state, ACCOUNT_B, b2, "active")
    assert address_of(state, ACCOUNT_B, b2) == freed


def test_a_pool_with_no_free_address_activates_the_sim_without_one_and_says_why():
    state, (a1, a2), (b1, _) = two_accounts(SHARED)
    status(state, ACCOUNT_A, a1, "active")
    status(state, ACCOUNT_B, b1, "active")
    log: list = []
    status(state, ACCOUNT_A, a2, "active", log=log)
    sim = state.accounts[ACCOUNT_A].sims[a2]
    assert (sim.status, sim.ip_address) == ("active", None)
    [unavailable] = [e for e in log if e.type == "SimIpAddressUnavailable"]
    assert unavailable.aggregate_id == a2
    assert unavailable.payload.pool == TINY
    assert unavailable.payload.reason == f"the pool {TINY} has no free address"


def test_overlapping_pools_are_decided_by_one_registry():
    assert registry_key("10.9.0.0/30") == registry_key("10.9.0.0/24") == registry_key("10.9.0.2")
    pools = IpPools(default="10.9.0.0/29", by_account={ACCOUNT_B: TINY})
    state, (a1, a2), (b1, b2) = two_accounts(pools)
    # B's pool lies inside A's: what B holds, A's Sims do not get.
    for account, sim in ((ACCOUNT_B, b1), (ACCOUNT_B, b2), (ACCOUNT_A, a1), (ACCOUNT_A, a2)):
        status(state, account, sim, "active", pools)
    assert [address_of(state, ACCOUNT_B, s) for s in (b1, b2)] == ["10.9.0.1", "10.9.0.2"]
    assert [address_of(state, ACCOUNT_A, s) for s in (a1, a2)] == ["10.9.0.3", "10.9.0.4"]


def test_address_commands_are_steps_keyed_by_their_registry():
    allocate = envelope(AllocateIpAddress(pool="10.9.0.0/30", sim="HS" + "0" * 32, request_id="r"))
    assert sender_of(allocate.command) == "internal"
    assert partition_key(allocate) == "ip:10.0.0.0/8"


@pytest.mark.parametrize(
    "setting",
    [
        "10.0.0.0/7",
        "10.0.0.1/24",
        "fe80::/64",
        "nonsense",
        "AC123=10.0.0.0/24",
        "10.0.0.0/24,1.0.0.0/8",
    ],
)
def test_a_bad_pool_setting_is_refused(setting):
    with pytest.raises(PoolError):
        IpPools.parse(setting)


def test_the_pool_setting_names_a_default_and_per_account_pools():
    pools = IpPools.parse(f"10.1.0.0/16, {ACCOUNT_B}=10.2.0.0/24")
    assert (pools.pool_for(ACCOUNT_A), pools.pool_for(ACCOUNT_B)) == ("10.1.0.0/16", "10.2.0.0/24")


# --- any order --------------------------------------------------------------------------------


class Bus:
    """Commands in flight, per partition key, each partition taking its next in order; which
    partition goes next is the test's choice (and a step may be delivered twice)."""

    def __init__(self, state, pools: IpPools) -> None:
        self.state, self.pools = state, pools
        self.queues: dict[str, list] = {}
        self.log: list = []

    def send(self, asked) -> None:
        self.queues.setdefault(partition_key(asked), []).append(asked)

    def step(self, key: str, again: bool) -> None:
        asked = self.queues[key][0] if again else self.queues[key].pop(0)
        result = decide(self.state, asked)
        if not isinstance(result, Rejection):
            for event in result:
                evolve(self.state, event)
            self.log.extend(result)
        refs = [] if isinstance(result, Rejection) else [event_ref(e) for e in result]
        for sent in follow_ups(self.state, asked, result, self.pools):
            self.send(placed(sent, refs))

    def busy(self) -> list[str]:
        return sorted(key for key, queue in self.queues.items() if queue)


def held_by_active_sims(state) -> list[str]:
    return [
        sim.ip_address
        for account in state.accounts.values()
        for sim in account.sims.values()
        if sim.status == "active" and sim.ip_address is not None
    ]


@settings(max_examples=100, deadline=None)
@given(st.data())
def test_never_one_address_on_two_active_sims_whatever_the_order(data):
    state, a, b = two_accounts(SHARED, per_account=2)
    sims = [(ACCOUNT_A, s) for s in a] + [(ACCOUNT_B, s) for s in b]
    bus = Bus(state, SHARED)
    statuses = {sim: "new" for sim in sims}
    for _ in range(data.draw(st.integers(4, 16))):
        if bus.busy() and data.draw(st.booleans()):
            key = data.draw(st.sampled_from(bus.busy()))
            bus.step(key, again=data.draw(st.integers(0, 5)) == 5)
        else:  # a tenant activates or deactivates one of its Sims
            account, sim = data.draw(st.sampled_from(sims))
            to = "inactive" if statuses[(account, sim)] == "active" else "active"
            statuses[(account, sim)] = to
            bus.send(envelope(UpdateSim(sim=sim, status=to), account))
        held = held_by_active_sims(state)
        assert len(held) == len(set(held)), held
        # The registry holds each of them for that very Sim.
        for account, sim in sims:
            record = state.accounts[account].sims[sim]
            if record.ip_address is not None:
                holder = state.ip_addresses[record.ip_address].holder
                assert (holder.account_sid, holder.sim_sid) == (account, sim)
    while bus.busy():
        bus.step(data.draw(st.sampled_from(bus.busy())), again=False)
    held = held_by_active_sims(state)
    assert len(held) == len(set(held))
    # Settled: the registry holds exactly the addresses active Sims have (none is lost), and
    # an active Sim without one was told its pool had none free when it became active.
    leased = sorted(a for a, lease in state.ip_addresses.items() if lease.holder is not None)
    assert leased == sorted(held)
    told = {
        (e.aggregate_id, e.payload.request_id)
        for e in bus.log
        if e.type == "SimIpAddressUnavailable"
    }
    for account, sim in sims:
        record = state.accounts[account].sims[sim]
        assert record.status == statuses[(account, sim)]
        if record.status == "active" and record.ip_address is None:
            assert (sim, record.activated_by) in told
