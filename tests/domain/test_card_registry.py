"""One owner per SIM card, across accounts: the card registry and the steps between it and the
accounts, in any order a log of partitions could deliver them, repeated or not."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from events.commands import CreateAccount, RegisterSim, UpdateSim
from events.envelope import Rejection, event_ref
from events.sids import derive_sid
from services.domain import decide, evolve
from services.domain.follow_ups import answered, awaiting, follow_ups, placed

from .support import (
    ACCOUNT_A,
    ACCOUNT_B,
    CODE_1,
    ICCID_1,
    ICCID_2,
    World,
    accepted,
    envelope,
    operator_world,
    rejected,
    run,
)

ACCOUNT_C = derive_sid("AC", "account-c")


class Bus:
    """Steps in flight between partitions, delivered in an order the test chooses (a
    partition's own commands stay in order: each takes the next of its queue)."""

    def __init__(self, state) -> None:
        self.state = state
        self.queues: dict[str, list] = {}  # partition key -> envelopes in order
        self.answers: dict[str, object] = {}  # command id -> its answer
        self.log: list = []

    def send(self, asked) -> None:
        from events.commands import partition_key

        self.queues.setdefault(partition_key(asked), []).append(asked)

    def step(self, key: str, again: bool = False) -> None:
        """Decides the next command of `key`'s queue (`again`: delivered twice)."""
        asked = self.queues[key][0] if again else self.queues[key].pop(0)
        result = decide(self.state, asked)
        if not isinstance(result, Rejection):
            for event in result:
                evolve(self.state, event)
            self.log.extend(result)
        if not awaiting(self.state, asked) and asked.command_id not in self.answers:
            if isinstance(asked.command, RegisterSim | UpdateSim):
                self.answers[asked.command_id] = result
        settled = answered(asked, result)
        if settled is not None:
            self.answers.setdefault(settled[1], settled[2] or result)
        refs = [] if isinstance(result, Rejection) else [event_ref(e) for e in result]
        for sent in follow_ups(self.state, asked, result):
            self.send(placed(sent, refs))

    def busy(self) -> list[str]:
        return [key for key, queue in self.queues.items() if queue]


def two_tenants():
    state = operator_world()
    for account in (ACCOUNT_A, ACCOUNT_B):
        accepted(state, CreateAccount(friendly_name="t", auth_token_hash="h"), account)
    return state


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_two_accounts_registering_one_card_end_with_one_owner_whatever_the_order(data):
    state = two_tenants()
    bus = Bus(state)
    asks = {
        account: envelope(RegisterSim(iccid=ICCID_1, registration_code=CODE_1), account)
        for account in (ACCOUNT_A, ACCOUNT_B)
    }
    for asked in asks.values():
        bus.send(asked)
    while bus.busy():
        key = data.draw(st.sampled_from(sorted(bus.busy())))
        bus.step(key, again=data.draw(st.integers(0, 5)) == 5)  # sometimes redelivered
    owners = [a for a in (ACCOUNT_A, ACCOUNT_B) if state.accounts[a].sim_iccids.get(ICCID_1)]
    assert len(owners) == 1
    [owner] = owners
    card = state.sim_cards[ICCID_1]
    assert card.owner.account_sid == owner and card.reserved_for is None
    assert card.owner.sim_sid == state.accounts[owner].sim_iccids[ICCID_1]
    loser = ACCOUNT_B if owner == ACCOUNT_A else ACCOUNT_A
    refused = bus.answers[asks[loser].command_id]
    assert isinstance(refused, Rejection) and refused.code == 83002
    assert not state.accounts[loser].registrations
    assert [e.type for e in bus.log].count("SimRegistered") == 1


def test_registering_right_after_provisioning_never_answers_83002():
    # The card's partition decides both, in the order they came: provisioned, then reserved.
    state = two_tenants()
    bus = Bus(state)
    from events.commands import ProvisionSimCard
    from events.sids import OPERATOR_ACCOUNT_SID

    new_card = "8901260000000000037"
    bus.send(envelope(ProvisionSimCard(iccid=new_card, registration_code="NEWCARD001"),
                      OPERATOR_ACCOUNT_SID))  # fmt: skip
    asked = envelope(RegisterSim(iccid=new_card, registration_code="NEWCARD001"))
    bus.step(new_card)
    bus.send(asked)
    while bus.busy():
        bus.step(sorted(bus.busy())[0])
    assert [e.type for e in bus.answers[asked.command_id]] == ["SimRegistered"]


def test_a_registration_whose_card_waited_too_long_is_refused_and_the_card_released():
    from events.commands import AbandonSimRegistration

    state = two_tenants()
    bus = Bus(state)
    asked = envelope(RegisterSim(iccid=ICCID_1, registration_code=CODE_1))
    bus.send(asked)
    bus.step(ACCOUNT_A)  # requested
    bus.step(ICCID_1)  # reserved; CompleteSimRegistration is on its way to A
    card = state.sim_cards[ICCID_1]
    sim = card.reserved_for.sim_sid
    abandon = AbandonSimRegistration(sim=sim, iccid=ICCID_1, request_id=card.reserved_request)
    bus.queues[ACCOUNT_A].insert(0, envelope(abandon, ACCOUNT_A))  # overtakes the completion
    while bus.busy():
        bus.step(sorted(bus.busy())[0])
    refused = bus.answers[asked.command_id]
    assert isinstance(refused, Rejection) and refused.code == 20503
    assert state.sim_cards[ICCID_1].reserved_for is None
    assert state.sim_cards[ICCID_1].owner is None
    released = [e for e in bus.log if e.type == "SimCardReservationReleased"]
    assert len(released) == 1 and released[0].payload.reason  # the reason is in the log
    # Free again: the next registration gets it.
    assert [e.type for e in run(state, RegisterSim(iccid=ICCID_1, registration_code=CODE_1),
                                ACCOUNT_B)] == ["SimRegistered"]  # fmt: skip


# --- subaccounts and moves ----------------------------------------------------------------


def family() -> World:
    """World's account A with a subaccount C (B stays a stranger)."""
    world = World()
    world.run(CreateAccount(friendly_name="C", auth_token_hash="h", parent_account_sid=ACCOUNT_A),
              ACCOUNT_C)  # fmt: skip
    return world


def test_a_subaccount_is_known_to_its_parent():
    world = family()
    assert ACCOUNT_C in world.state.accounts[ACCOUNT_A].subaccounts
    assert world.state.accounts[ACCOUNT_C].parent_account_sid == ACCOUNT_A


def test_a_new_sim_moves_to_a_subaccount_with_its_name_and_card():
    world = family()
    world.run(UpdateSim(sim=world.sim, unique_name="tracker-1"))
    answer = world.run(UpdateSim(sim=world.sim, account=ACCOUNT_C))
    assert [e.type for e in answer] == ["SimMovedOut"]
    a, c = world.state.accounts[ACCOUNT_A], world.state.accounts[ACCOUNT_C]
    assert world.sim not in a.sims and "tracker-1" not in a.sim_names
    moved = c.sims[world.sim]
    assert (moved.unique_name, moved.status, moved.fleet_sid) == ("tracker-1", "new", None)
    assert world.state.sim_cards[ICCID_1].owner.account_sid == ACCOUNT_C
    types = [
        e.type
        for e in world.log
        if world.sim in (e.aggregate_id, getattr(e.payload, "sim_sid", None))
    ]
    assert types[-4:] == ["SimMoveRequested", "SimCardTransferred", "SimMovedIn", "SimMovedOut"]
    # Versions of the Sim run on from one account to the other.
    versions = [e.aggregate_version for e in world.log if e.aggregate_id == world.sim]
    assert versions == list(range(1, len(versions) + 1))


def test_moving_is_refused_for_a_stranger_a_sim_not_new_and_with_other_changes():
    world = family()
    assert rejected(world.state, UpdateSim(sim=world.sim, account=ACCOUNT_B)).code == 20001
    both = rejected(world.state, UpdateSim(sim=world.sim, account=ACCOUNT_C, unique_name="x"))
    assert both.code == 20001 and "combined" in both.message
    world.run(UpdateSim(sim=world.sim, fleet="fleet", status="active"))
    assert "new" in rejected(world.state, UpdateSim(sim=world.sim, account=ACCOUNT_C)).message
    assert run(world.state, UpdateSim(sim=world.sim, account=ACCOUNT_A)) == []  # its own: no-op


def test_a_sim_on_its_way_out_takes_no_other_change_and_a_name_taken_there_is_dropped():
    world = family()
    world.run(UpdateSim(sim=world.sim, unique_name="same"))
    bus = Bus(world.state)
    move = envelope(UpdateSim(sim=world.sim, account=ACCOUNT_C))
    bus.send(move)
    bus.step(ACCOUNT_A)  # requested: the card's partition has not answered yet
    assert awaiting(world.state, move)
    during = rejected(world.state, UpdateSim(sim=world.sim, status="inactive"))
    assert during.http_status == 409
    # C registers a card and names its Sim "same" meanwhile.
    run(world.state, RegisterSim(iccid=ICCID_2, registration_code="FGHIJ67890"), ACCOUNT_C)
    [c_sim] = world.state.accounts[ACCOUNT_C].sims
    run(world.state, UpdateSim(sim=c_sim, unique_name="same"), ACCOUNT_C)
    while bus.busy():
        bus.step(sorted(bus.busy())[0])
    moved = world.state.accounts[ACCOUNT_C].sims[world.sim]
    assert moved.unique_name is None
    assert [e.type for e in bus.answers[move.command_id]] == ["SimMovedOut"]
