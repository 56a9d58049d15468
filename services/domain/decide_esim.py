"""eSIM Profiles (HP): ordered from the SM-DP+ through the network interface, their ICCID
made the account's SIM card by the card's one writer.

  A: CreateEsimProfile -> EsimProfileCreated (new)      the relay asks the SM-DP+ to reserve
  A: RecordEsimProfileReport(reserving) -> EsimProfileStatusChanged
  A: RecordEsimProfileReport(available), accepted       => ClaimEsimCard to the card (ICCID)
  C: ClaimEsimCard -> SimCardProvisioned, SimCardReserved => CompleteEsimProfile to A
     ClaimEsimCard refused (the ICCID is another's)     => RefuseEsimCard to A
  A: CompleteEsimProfile -> SimRegistered, EsimProfileAvailable => ConfirmSimCard to C
     RefuseEsimCard -> EsimProfileStatusChanged(failed)
  A: RecordEsimProfileReport(downloaded|installed|failed) -> EsimProfileStatusChanged

Decisions (Twilio states the parameters, not the codes; refusals are 400 20001):
- Eid, or GenerateMatchingId=true, is required; an Eid is 32 letters or digits (the GSMA's EID
  is 32 digits; Twilio's own example, 89049032005008882600033489aaaaaa, has letters: both pass).
- A report never moves a profile back; one for a profile not in flight (installed, failed,
  unknown) is refused 404 20404; a repeated one changes nothing.
- failed is reachable from every status but installed; it carries the SM-DP+'s error.
- The profile's Sim is `derive_sid(SIM, profile SID)`: status new, no Fleet, like a
  registered Sim. A card of the inventory (with a registration code) or one held or owned by
  another is not the SM-DP+'s to give: the claim is refused and the profile failed.
"""

from __future__ import annotations

import re

from msgspec import UNSET

from events.commands import (
    ClaimEsimCard,
    CompleteEsimProfile,
    CreateEsimProfile,
    RecordEsimProfileReport,
    RefuseEsimCard,
)
from events.envelope import Rejection
from events.event_types import (
    EsimProfileAvailable,
    EsimProfileCreated,
    EsimProfileStatusChanged,
    SimCardProvisioned,
    SimCardReserved,
    SimRegistered,
)
from events.sids import ESIM_PROFILE, SIM, derive_sid
from services.domain import rejections, rules
from services.domain.emit import Emitter
from services.domain.rejections import Rejected, invalid
from services.domain.state import Account, CardHolder, EsimProfile, State
from services.echo import shown

AGGREGATE = "EsimProfile"
STATUSES = ("new", "reserving", "available", "downloaded", "installed", "failed")
# How far along each status is: a report only ever moves a profile forward.
_PROGRESS = {"new": 0, "reserving": 1, "available": 2, "downloaded": 3, "installed": 4}
FINISHED = frozenset({"installed", "failed"})
_EID = re.compile(r"[0-9A-Za-z]{32}")
# A card the SM-DP+ made has no registration code: no code's hash is ever this, so no
# RegisterSim can take it.
NO_REGISTRATION_CODE = ""


def sim_of(account_sid: str, profile_sid: str) -> str:
    """The Sim an eSIM Profile's ICCID becomes: derived, so a repeated step names it again."""
    return derive_sid(SIM, profile_sid, account_sid)


def create_esim_profile(
    state: State, account: Account, cmd: CreateEsimProfile, out: Emitter
) -> None:
    generate = cmd.generate_matching_id is True
    eid = None if cmd.eid is UNSET or cmd.eid == "" else cmd.eid
    if eid is None and not generate:
        raise invalid("Eid is required, unless GenerateMatchingId is true")
    if eid is not None and not _EID.fullmatch(eid):
        raise invalid(f"Eid must be the eUICC's EID, 32 letters or digits, not {shown(eid)}")
    url = None if cmd.callback_url is UNSET else rules.url(cmd.callback_url, "CallbackUrl")
    method = (
        rules.DEFAULT_METHOD
        if cmd.callback_method is UNSET
        else rules.method(cmd.callback_method, "CallbackMethod")
    )
    sid = derive_sid(ESIM_PROFILE, out.command.command_id, account.sid)
    created = EsimProfileCreated(
        eid=eid, generate_matching_id=generate, callback_url=url, callback_method=method
    )
    out.emit(AGGREGATE, sid, 0, created)


def record_esim_profile_report(
    state: State, account: Account, cmd: RecordEsimProfileReport, out: Emitter
) -> None:
    """Expects: the profile in flight. `available` records nothing here: the card's one writer
    is asked first (follow_ups.py sends the claim), and the profile is available once it
    answers."""
    profile = _in_flight(account, cmd.profile)
    if cmd.status not in STATUSES or cmd.status == "new":
        raise invalid(f"An eSIM Profile cannot be reported {shown(cmd.status)}")
    if cmd.status == "failed":
        if not cmd.error_code or not cmd.error_message:
            raise invalid("A failed eSIM Profile report needs its error_code and error_message")
        _fail(profile, cmd.error_code, cmd.error_message, out)
        return
    if _PROGRESS[cmd.status] <= _PROGRESS[profile.status]:
        return  # late or repeated: the profile is already past it
    if cmd.status == "available":
        if cmd.iccid is None or not rules.iccid_is_valid(cmd.iccid):
            raise invalid("An available eSIM Profile needs its ICCID")
        return
    if profile.status in ("new", "reserving") and cmd.status != "reserving":
        # Downloaded before it was ever available: the SM-DP+ skipped the step that makes
        # the Sim; refused so the report's order is the network's to fix.
        raise Rejected(
            Rejection(409, 20409, f"The eSIM Profile {profile.sid} is not available yet")
        )
    changed = EsimProfileStatusChanged(from_status=profile.status, to_status=cmd.status)
    out.emit(AGGREGATE, profile.sid, profile.version, changed)


def claim_esim_card(state: State, account: Account, cmd: ClaimEsimCard, out: Emitter) -> None:
    """Decided by the card's partition: a new card, held for the profile's Sim."""
    holder = CardHolder(out.command.account_sid, cmd.sim)
    if not rules.iccid_is_valid(cmd.iccid):
        raise invalid(f"{shown(cmd.iccid)} is not an ICCID")
    card = state.sim_cards.get(cmd.iccid)
    if card is not None and holder in (card.owner, card.reserved_for):
        return  # asked again: the answer follows again
    if card is not None:
        raise Rejected(Rejection(409, 20409, f"SIM card {cmd.iccid} is already in the inventory"))
    provisioned = SimCardProvisioned(iccid=cmd.iccid, registration_code_hash=NO_REGISTRATION_CODE)
    out.emit("SimCard", cmd.iccid, 0, provisioned)
    out.emit("SimCard", cmd.iccid, 0, SimCardReserved(sim_sid=cmd.sim, request_id=cmd.profile))


def complete_esim_profile(
    state: State, account: Account, cmd: CompleteEsimProfile, out: Emitter
) -> None:
    """The card is held for the profile's Sim: the Sim joins the account, the profile is
    available (once)."""
    if cmd.sim in account.sims:
        return  # recorded already: the card is told again
    profile = account.esim_profiles.get(cmd.profile)
    if profile is None or profile.status not in ("new", "reserving"):
        raise Rejected(
            Rejection(409, 20409, f"the eSIM Profile {cmd.profile} is no longer reserving")
        )
    out.emit("Sim", cmd.sim, 0, SimRegistered(iccid=cmd.iccid))
    available = EsimProfileAvailable(
        from_status=profile.status,
        iccid=cmd.iccid,
        sim_sid=cmd.sim,
        smdp_plus_address=cmd.smdp_plus_address,
        matching_id=cmd.matching_id,
        activation_code=cmd.activation_code,
        callback_url=profile.callback_url,
        callback_method=profile.callback_method,
    )
    out.emit(AGGREGATE, profile.sid, profile.version, available)


def refuse_esim_card(state: State, account: Account, cmd: RefuseEsimCard, out: Emitter) -> None:
    profile = account.esim_profiles.get(cmd.profile)
    if profile is not None:
        _fail(profile, "card_refused", cmd.message[:500], out)


def _in_flight(account: Account, sid: str) -> EsimProfile:
    profile = account.esim_profiles.get(sid)
    if profile is None:
        raise rejections.not_found("eSIM Profile in flight", sid)
    return profile


def _fail(profile: EsimProfile, code: str, message: str, out: Emitter) -> None:
    failed = EsimProfileStatusChanged(
        from_status=profile.status,
        to_status="failed",
        error_code=code[:100],
        error_message=message[:500],
    )
    out.emit(AGGREGATE, profile.sid, profile.version, failed)


ESIM_HANDLERS = {
    CreateEsimProfile: create_esim_profile,
    RecordEsimProfileReport: record_esim_profile_report,
    CompleteEsimProfile: complete_esim_profile,
    RefuseEsimCard: refuse_esim_card,
}
CARD_ESIM_HANDLERS = {ClaimEsimCard: claim_esim_card}
