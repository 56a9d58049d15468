"""Builders for domain tests: commands in envelopes, and states reached by deciding them."""

from __future__ import annotations

from collections import deque
from datetime import UTC, datetime
from itertools import count

from events.commands import (
    CommandEnvelope,
    CreateAccount,
    CreateFleet,
    CreateNetworkAccessProfile,
    NetworkIdentifier,
    ProvisionNetwork,
    ProvisionSimCard,
    RegisterSim,
)
from events.envelope import EventEnvelope, Rejection, event_ref
from events.ip_pools import IpPools
from events.sids import ACCOUNT, OPERATOR_ACCOUNT_SID, derive_sid
from services.domain import State, decide, evolve
from services.domain.follow_ups import answered, awaiting, follow_ups, placed

ACCOUNT_A = derive_sid(ACCOUNT, "account-a")
ACCOUNT_B = derive_sid(ACCOUNT, "account-b")
ISSUED_AT = datetime(2026, 11, 25, 18, 0, tzinfo=UTC)
ICCID_1, CODE_1 = "8901260000000000011", "ABCDE12345"
ICCID_2, CODE_2 = "8901260000000000029", "FGHIJ67890"

_ids = count(1)


def envelope(command, account_sid: str = ACCOUNT_A, command_id: str | None = None):
    return CommandEnvelope(
        command_id=command_id or f"cmd-{next(_ids)}",
        account_sid=account_sid,
        actor="test",
        issued_at=ISSUED_AT,
        command=command,
    )


def run(
    state: State,
    command,
    account_sid: str = ACCOUNT_A,
    command_id: str | None = None,
    log: list | None = None,
    pools: IpPools = IpPools(),
):
    """Decide and, when accepted, evolve `state` in place (and extend `log`); a command a
    process answers (a registration, a move) is driven through every step of it, as the
    processors would, all in this one state. Returns the command's answer: its events (those
    of the step that answered it, for a process) or its rejection."""
    return drive(state, envelope(command, account_sid, command_id), log, pools)


def drive(state: State, asked, log: list | None = None, pools: IpPools = IpPools()):
    answer = None
    queue = deque([asked])
    while queue:
        step = queue.popleft()
        result = decide(state, step)
        if not isinstance(result, Rejection):
            for event in result:
                evolve(state, event)
            if log is not None:
                log.extend(result)
        if step is asked and not awaiting(state, step):
            answer = result
        settled = answered(step, result)
        if settled is not None and settled[1] == asked.command_id:
            answer = result if settled[2] is None else settled[2]
        refs = [] if isinstance(result, Rejection) else [event_ref(e) for e in result]
        queue.extend(placed(f, refs) for f in follow_ups(state, step, result, pools))
    return answer


def accepted(
    state: State, command, account_sid: str = ACCOUNT_A, command_id=None, log=None, pools=IpPools()
):
    result = run(state, command, account_sid, command_id, log, pools)
    assert not isinstance(result, Rejection), result
    return result


def rejected(state: State, command, account_sid: str = ACCOUNT_A) -> Rejection:
    before = state.copy()
    result = run(state, command, account_sid)
    assert isinstance(result, Rejection), result
    assert state == before
    return result


def aggregate_id(events: list[EventEnvelope]) -> str:
    return events[0].aggregate_id


def operator_world(log: list | None = None) -> State:
    """A catalogue with two Networks and an inventory with two SIM cards."""
    state = State()
    for mnc in ("410", "260"):
        accepted(
            state,
            ProvisionNetwork(
                friendly_name=f"Carrier {mnc}",
                iso_country="US",
                identifiers=[NetworkIdentifier(mcc="310", mnc=mnc)],
            ),
            OPERATOR_ACCOUNT_SID,
            log=log,
        )
    for iccid, code in ((ICCID_1, CODE_1), (ICCID_2, CODE_2)):
        card = ProvisionSimCard(iccid=iccid, registration_code=code)
        accepted(state, card, OPERATOR_ACCOUNT_SID, log=log)
    return state


def networks(state: State) -> list[str]:
    return list(state.networks)


class World:
    """An account with a profile named "nap", a Fleet named "fleet" and a registered Sim, and
    a second, empty account B."""

    def __init__(self, pools: IpPools = IpPools()) -> None:
        self.pools = pools  # the address pools the settings give
        self.log: list[EventEnvelope] = []  # every event appended so far
        self.state = operator_world(self.log)
        self.run(CreateAccount(friendly_name="A", auth_token_hash="h" * 64))
        self.run(CreateAccount(friendly_name="B", auth_token_hash="h" * 64), ACCOUNT_B)
        self.profile = aggregate_id(
            self.run(
                CreateNetworkAccessProfile(unique_name="nap", networks=networks(self.state)[:1])
            )
        )
        self.fleet = aggregate_id(
            self.run(CreateFleet(network_access_profile="nap", unique_name="fleet"))
        )
        self.sim = aggregate_id(self.run(RegisterSim(iccid=ICCID_1, registration_code=CODE_1)))

    def run(self, command, account_sid: str = ACCOUNT_A):
        """Like `accepted`, keeping the log."""
        return accepted(self.state, command, account_sid, log=self.log, pools=self.pools)

    @property
    def account(self):
        return self.state.accounts[ACCOUNT_A]
