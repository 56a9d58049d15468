"""`fleetstate demo` (also run by `fleetstate run`): a demo account, a carrier catalogue with real
MCC/MNC pairs, a Network Access Profile and a few SIM cards to register, printed with a
twilio-python snippet and a curl line that work as printed.

Idempotent: every command has a fixed id, so a second run creates nothing new (the processor
answers a repeated id with its first outcome), and the credentials and the SIM cards (ICCIDs and
registration codes drawn at random on the first run: a code in the source would let anyone who
read it register the cards) are remembered in the demo file (`.devstack/demo.json`, git-ignored,
the owner's only; the log and the read model only ever see the token's hash). Conflicts with
what an operator provisioned by hand (the same MCC/MNC) are fine: the catalogue has them.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

import asyncpg
import msgspec

from events.commands import CreateNetworkAccessProfile
from services.config import Settings
from services.credentials import new_account_sid, new_auth_token
from services.operator import (
    NotDone,
    add_network,
    add_sim_card,
    command_client,
    create_account,
    describe,
    execute,
)

# (friendly name, ISO country, MCC, MNCs): public assignments of these carriers.
NETWORKS = [
    ("T-Mobile USA", "US", "310", ["260"]),
    ("AT&T Mobility", "US", "310", ["410"]),
    ("Vodafone UK", "GB", "234", ["15"]),
    ("Telekom Deutschland", "DE", "262", ["01"]),
    ("Orange France", "FR", "208", ["01"]),
]
SIM_CARD_COUNT = 4
PROFILE_NAME = "demo-nap"
CONFLICT = 20409  # already in the catalogue or inventory, provisioned another way


class DemoFile(msgspec.Struct):
    account_sid: str
    auth_token: str
    # (ICCID, registration code); empty in files written before the codes were drawn.
    cards: list[tuple[str, str]] = []


def new_sim_cards(count: int = SIM_CARD_COUNT) -> list[tuple[str, str]]:
    """19-digit ICCIDs with the telecom prefix 89 and 10-character codes, all random: ICCIDs
    too, so a new demo file never meets cards an earlier one provisioned with other codes."""
    return [
        (f"89{secrets.randbelow(10**17):017d}", secrets.token_hex(5).upper()) for _ in range(count)
    ]


def _write(path: Path, demo: DemoFile) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # Readable by its owner only, from its first byte on.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # an existing file keeps its mode through os.open
    with os.fdopen(fd, "wb") as out:
        out.write(msgspec.json.format(msgspec.json.encode(demo)) + b"\n")


def load_or_make_credentials(path: Path) -> DemoFile:
    # Written before anything is created, so a crash in between cannot lose the token or codes.
    if not path.exists():
        demo = DemoFile(new_account_sid(), new_auth_token(), new_sim_cards())
        _write(path, demo)
        return demo
    demo = msgspec.json.decode(path.read_bytes(), type=DemoFile)
    if not demo.cards:  # a file from before the codes were drawn: draw them now
        demo = DemoFile(demo.account_sid, demo.auth_token, new_sim_cards())
        _write(path, demo)
    return demo


def _ok(outcome, what: str) -> None:
    if outcome.rejection is not None and outcome.rejection.code != CONFLICT:
        raise RuntimeError(f"demo: {what}: {describe(outcome)}")


async def seed(settings: Settings) -> tuple[DemoFile, list[str]]:
    """Creates what is missing; returns the credentials and the demo profile's Network SIDs."""
    demo = load_or_make_credentials(Path(settings.demo_file))
    try:
        await create_account(
            settings,
            "fleetstate demo",
            account_sid=demo.account_sid,
            auth_token=demo.auth_token,
            command_id="demo:account",
        )
    except NotDone as exc:
        if str(CONFLICT) not in str(exc):  # "already exists": created by an earlier run
            raise
    for name, country, mcc, mncs in NETWORKS:
        outcome = await add_network(
            settings, name, country, mcc, mncs, command_id=f"demo:network:{mcc}-{mncs[0]}"
        )
        _ok(outcome, name)
    for iccid, code in demo.cards:
        _ok(await add_sim_card(settings, iccid, code, command_id=f"demo:card:{iccid}"), iccid)
    network_sids = await _catalogue_sids(settings)
    async with command_client(settings, actor="demo") as client:
        outcome = await execute(
            settings,
            client,
            CreateNetworkAccessProfile(unique_name=PROFILE_NAME, networks=network_sids),
            account_sid=demo.account_sid,
            command_id="demo:profile",
        )
    _ok(outcome, PROFILE_NAME)
    return demo, network_sids


async def _catalogue_sids(settings: Settings) -> list[str]:
    conn = await asyncpg.connect(settings.database_url)
    try:
        sids = []
        for _, _, mcc, mncs in NETWORKS:
            wanted = json.dumps([{"mcc": mcc, "mnc": mncs[0]}])
            sid = await conn.fetchval(
                "select sid from networks where identifiers @> $1::jsonb order by sid", wanted
            )
            if sid is not None:
                sids.append(sid)
        return sids
    finally:
        await conn.close()


def instructions(demo: DemoFile, base_url: str) -> str:
    sid, token = demo.account_sid, demo.auth_token
    cards = "\n".join(f"    ICCID {iccid}  registration code {code}" for iccid, code in demo.cards)
    first_iccid, first_code = demo.cards[0]
    return f"""
fleetstate demo account
    Account SID  {sid}
    Auth Token   {token}
    (kept in the demo file with the cards' codes; delete it to get new ones on the next run)

SIM cards in the inventory, to register (each once):
{cards}
Network Access Profile: {PROFILE_NAME} (every Network of the catalogue)

Try it with curl:
    curl -u {sid}:{token} {base_url}/v1/Networks
    curl -u {sid}:{token} -d Iccid={first_iccid} -d RegistrationCode={first_code} \\
        {base_url}/v1/Sims

Or with twilio-python (pip install twilio):
    from twilio.rest import Client

    client = Client("{sid}", "{token}")
    client.supersim.base_url = "{base_url}"  # fleetstate instead of supersim.twilio.com
    fleets = client.supersim.v1.fleets
    fleet = fleets.create(network_access_profile="{PROFILE_NAME}", data_limit=100)
    print(fleet.sid, fleet.url)
    for sim in client.supersim.v1.sims.list(limit=20):
        print(sim.sid, sim.iccid, sim.status)
"""


async def run_demo(settings: Settings, base_url: str) -> str:
    demo, _ = await seed(settings)
    return instructions(demo, base_url)
