"""Domain benchmark (not a test): run as `.venv/bin/python bench/bench_domain.py`.

1. decide+evolve commands/s over a realistic mix (create fleets, register sims, assign,
   activate, update limits), beside a bare msgspec encode+decode of the same command envelopes.
2. event encode+decode/s through events.codec, beside bare msgspec on the same structs.
Each figure is the median of several runs on one core; the ratio is ours / bare msgspec.
"""

from __future__ import annotations

import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import msgspec

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from events.codec import decode_event, encode_event  # noqa: E402
from events.commands import (  # noqa: E402
    CommandEnvelope,
    CreateAccount,
    CreateFleet,
    CreateNetworkAccessProfile,
    NetworkIdentifier,
    ProvisionNetwork,
    ProvisionSimCard,
    RegisterSim,
    UpdateFleet,
    UpdateSim,
)
from events.envelope import EventEnvelope, Rejection  # noqa: E402
from events.sids import ACCOUNT, FLEET, OPERATOR_ACCOUNT_SID, SIM, derive_sid  # noqa: E402
from services.domain import State, decide, evolve  # noqa: E402
from services.domain.follow_ups import follow_ups  # noqa: E402

ACCOUNTS = 50
FLEETS_PER_ACCOUNT = 10
SIMS_PER_ACCOUNT = 400
RUNS = 5
ISSUED_AT = datetime(2026, 11, 25, 18, 0, tzinfo=UTC)


def command(account_sid: str, command_id: str, cmd) -> CommandEnvelope:
    return CommandEnvelope(
        command_id=command_id,
        account_sid=account_sid,
        actor="bench",
        issued_at=ISSUED_AT,
        command=cmd,
    )


def iccid(n: int) -> str:
    return f"89{n:018d}"


def operator_commands() -> list[CommandEnvelope]:
    cmds = [
        command(
            OPERATOR_ACCOUNT_SID,
            "net-1",
            ProvisionNetwork(
                friendly_name="Carrier",
                iso_country="US",
                identifiers=[NetworkIdentifier(mcc="310", mnc="410")],
            ),
        )
    ]
    for n in range(ACCOUNTS * SIMS_PER_ACCOUNT):
        card = ProvisionSimCard(iccid=iccid(n), registration_code=f"CODE{n % 1000000:06d}")
        cmds.append(command(OPERATOR_ACCOUNT_SID, f"card-{n}", card))
    return cmds


def account_commands(a: int) -> list[CommandEnvelope]:
    """One account's day: a profile, fleets, SIMs registered, assigned, activated, limits."""
    sid = derive_sid(ACCOUNT, f"account-{a}")
    cmds = [command(sid, "acct", CreateAccount(friendly_name=f"A{a}", auth_token_hash="h"))]
    cmds.append(command(sid, "nap", CreateNetworkAccessProfile(unique_name="nap")))
    fleets = []
    for f in range(FLEETS_PER_ACCOUNT):
        cid = f"fleet-{f}"
        cmds.append(command(sid, cid, CreateFleet(network_access_profile="nap", unique_name=cid)))
        fleets.append(derive_sid(FLEET, cid, sid))
    for s in range(SIMS_PER_ACCOUNT):
        n = a * SIMS_PER_ACCOUNT + s
        cid = f"sim-{s}"
        code = f"CODE{n % 1000000:06d}"
        cmds.append(command(sid, cid, RegisterSim(iccid=iccid(n), registration_code=code)))
        sim = derive_sid(SIM, cid, sid)
        fleet = fleets[s % FLEETS_PER_ACCOUNT]
        cmds.append(command(sid, f"assign-{s}", UpdateSim(sim=sim, fleet=fleet)))
        cmds.append(command(sid, f"activate-{s}", UpdateSim(sim=sim, status="active")))
        if s % 4 == 0:
            limit = UpdateFleet(fleet=fleet, data_limit=100 + s)
            cmds.append(command(sid, f"limit-{s}", limit))
    return cmds


def workload() -> list[CommandEnvelope]:
    # Interleave accounts round-robin, as a partition would see them.
    per_account = [account_commands(a) for a in range(ACCOUNTS)]
    mixed = []
    for i in range(max(map(len, per_account))):
        mixed.extend(cmds[i] for cmds in per_account if i < len(cmds))
    return mixed


def run_commands(
    base: State, cmds: list[CommandEnvelope]
) -> tuple[float, int, list[EventEnvelope]]:
    """Decides `cmds` and the steps they send on (a registration is answered by the card's
    partition: one State holds both here), each step right after the command that sent it;
    returns the time, how many commands were decided, steps included, and the events."""
    state = base.copy()
    events: list[EventEnvelope] = []
    decided = 0
    start = time.perf_counter()
    for first in cmds:
        pending = [first]
        while pending:
            envelope = pending.pop()
            result = decide(state, envelope)
            if result.__class__ is Rejection:
                raise AssertionError(f"unexpected rejection {result} for {envelope}")
            for event in result:
                evolve(state, event)
            events.extend(result)
            decided += 1
            pending.extend(reversed(follow_ups(state, envelope, result)))
    return time.perf_counter() - start, decided, events


def round_trip(items, encode, decode) -> None:
    # Each message is encoded, decoded and dropped, as a consumer/producer loop would.
    for item in items:
        decode(encode(item))


def timed(fn, items) -> float:
    start = time.perf_counter()
    fn(items)
    return time.perf_counter() - start


def median_rate(n: int, fn, items) -> float:
    return n / statistics.median(timed(fn, items) for _ in range(RUNS))


def main() -> None:
    base = State()
    for envelope in operator_commands():
        for event in decide(base, envelope):
            evolve(base, event)
    cmds = workload()

    seconds = []
    events: list[EventEnvelope] = []
    decided = 0
    for _ in range(RUNS):
        elapsed, decided, events = run_commands(base, cmds)
        seconds.append(elapsed)
    domain_rate = decided / statistics.median(seconds)

    # The ceiling for commands: bare msgspec encode+decode of the same command envelopes.
    enc, cmd_dec = msgspec.json.Encoder(), msgspec.json.Decoder(CommandEnvelope)
    bare_cmd_rate = median_rate(
        len(cmds), lambda xs: [cmd_dec.decode(enc.encode(c)) for c in xs], cmds
    )  # per command, as ours is per command decided

    # Events: our codec vs bare msgspec on the same envelopes.
    sample = events[:200_000]
    ev_dec = msgspec.json.Decoder(EventEnvelope)
    ours = median_rate(len(sample), lambda xs: round_trip(xs, encode_event, decode_event), sample)
    bare = median_rate(len(sample), lambda xs: round_trip(xs, enc.encode, ev_dec.decode), sample)
    assert decode_event(encode_event(sample[-1])) == sample[-1]

    mix = {}
    for envelope in cmds:
        mix[type(envelope.command).__name__] = mix.get(type(envelope.command).__name__, 0) + 1
    print(f"python {sys.version.split()[0]}, msgspec {msgspec.__version__}, median of {RUNS} runs")
    print(f"workload: {len(cmds):,} commands and {decided - len(cmds):,} steps they send on")
    print(f"  -> {len(events):,} events; mix {mix}")
    print(
        f"decide+evolve : {domain_rate:>12,.0f} commands/s   "
        f"(bare msgspec command encode+decode {bare_cmd_rate:,.0f}/s, "
        f"ratio {domain_rate / bare_cmd_rate:.2f})   goal >= 100,000"
    )
    print(
        f"event codec   : {ours:>12,.0f} events/s     "
        f"(bare msgspec encode+decode {bare:,.0f}/s, ratio {ours / bare:.2f})   goal >= 500,000"
    )
    avg = sum(len(encode_event(e)) for e in sample) / len(sample)
    print(f"average encoded event: {avg:.0f} bytes")


if __name__ == "__main__":
    main()
