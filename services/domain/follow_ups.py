"""The process manager of the rules that span partitions, pure: what each decision asks of
another partition, and which earlier request it answers.

Registering a Sim (account A, card C), `=>` the command sent on, `*` the step that answers:
  A: RegisterSim -> SimRegistrationRequested         => ReserveSimCard to C
  C: ReserveSimCard -> SimCardReserved               => CompleteSimRegistration to A
     ReserveSimCard refused                          => RefuseSimRegistration to A
  A: CompleteSimRegistration -> SimRegistered *      => ConfirmSimCard to C
     CompleteSimRegistration, nothing waiting        => ReleaseSimCard to C
     RefuseSimRegistration -> SimRegistrationRefused *
  C: ConfirmSimCard -> SimCardAssigned; ReleaseSimCard -> SimCardReservationReleased
Moving a new Sim from A to its subaccount B:
  A: UpdateSim(AccountSid=B) -> SimMoveRequested     => TransferSimCard to C
  C: TransferSimCard -> SimCardTransferred           => MoveSimIn to B
     TransferSimCard refused                         => RefuseSimMove to A
  B: MoveSimIn -> SimMovedIn                         => MoveSimOut to A
  A: MoveSimOut -> SimMovedOut *; RefuseSimMove -> SimMoveRefused *
A subaccount: CreateAccount(parent P) -> AccountCreated => AdoptSubaccount to P.
An address for an active Sim (account A, the registry R of its pool's block):
  A: UpdateSim / ActivateSimOnDataUsage -> SimStatusChanged to active => AllocateIpAddress to R
  R: AllocateIpAddress -> IpAddressAllocated          => RecordSimIpAddress to A
     AllocateIpAddress refused (no free address)      => RecordSimIpAddressUnavailable to A
  A: RecordSimIpAddress -> SimIpAddressAssigned; RecordSimIpAddressUnavailable ->
     SimIpAddressUnavailable; the Sim no longer active (nothing recorded) => ReleaseIpAddress to R
  A: SimStatusChanged from active + SimIpAddressReleased => ReleaseIpAddress to R
  R: ReleaseIpAddress -> IpAddressReleased
The pool is the setting's for A when the Sim becomes active, and travels with every step.
An eSIM Profile the SM-DP+ made available (its ICCID a new card; decide_esim.py), each step
also sent again when its command is asked again:
  A: RecordEsimProfileReport(available), accepted    => ClaimEsimCard to C
  C: ClaimEsimCard -> SimCardProvisioned, SimCardReserved => CompleteEsimProfile to A
     ClaimEsimCard refused                           => RefuseEsimCard to A
  A: CompleteEsimProfile -> SimRegistered, EsimProfileAvailable => ConfirmSimCard to C
     CompleteEsimProfile refused (failed meanwhile)  => ReleaseSimCard to C
     RefuseEsimCard -> EsimProfileStatusChanged(failed)
A message from a device (the network knows its ICCID, not its account):
  C: ReceiveDeviceMessage, accepted (no event)      => RecordMessageFromSim to the owner
  A: RecordMessageFromSim -> SmsCommandReceived | IpCommandReceived
Settings Updates for the Sims a change concerns, in chunks (decide_settings.py), within A:
  A: UpdateFleet -> FleetNetworkAccessProfileChanged => ScheduleSettingsUpdates(Fleet) to A
     AddNetworkToProfile -> NetworkAddedToProfile (or RemoveNetworkFromProfile ->
     NetworkRemovedFromProfile)                      => ScheduleSettingsUpdates(profile) to A
  A: ScheduleSettingsUpdates(chunk n) -> SettingsUpdateScheduled per Sim of the chunk
                                                     => chunk n+1 to A, while Sims remain

Every step is decided by one partition and sent in the transaction that records it, so a
crash repeats a whole step or none; each command's id derives from the request and the step,
and each handler answers a repeat without changing anything, so a repeated step is harmless.
The card's owner changes in one event of the card's partition (SimCardAssigned,
SimCardTransferred): never two owners, and never none once it had one.
"""

from __future__ import annotations

from hashlib import sha256

from msgspec.structs import replace

from events.commands import (
    AbandonSimRegistration,
    AdoptSubaccount,
    AllocateIpAddress,
    ClaimEsimCard,
    Command,
    CommandEnvelope,
    CompleteEsimProfile,
    CompleteSimRegistration,
    ConfirmSimCard,
    MoveSimIn,
    MoveSimOut,
    ReceiveDeviceMessage,
    RecordEsimProfileReport,
    RecordMessageFromSim,
    RecordSimIpAddress,
    RecordSimIpAddressUnavailable,
    RefuseEsimCard,
    RefuseSimMove,
    RefuseSimRegistration,
    RegisterSim,
    ReleaseIpAddress,
    ReleaseSimCard,
    ReserveSimCard,
    ScheduleSettingsUpdates,
    TransferSimCard,
    UpdateSim,
)
from events.envelope import EventEnvelope, Rejection
from events.ip_pools import IpPools
from events.refs import EventRef
from events.sids import SIM, derive_sid
from services.domain import decide_settings
from services.domain.decide_esim import sim_of
from services.domain.state import CardHolder, IpClaim, State

NO_LONGER_ACTIVE = "the Sim was no longer active by the activation this address came for"


def follow_ups(
    state: State,
    envelope: CommandEnvelope,
    result: list[EventEnvelope] | Rejection,
    pools: IpPools = IpPools(),
) -> list[CommandEnvelope]:
    """The commands `envelope`'s decision sends to other partitions; `state` is the state
    right after it, `pools` the address pools as the settings give them now (the pool chosen
    travels in the command, so nothing later depends on the setting). A MoveSimOut still
    lacks where its SimMovedIn is: see `placed`."""
    command = envelope.command
    sent: list[tuple[str, str, Command]] = []  # (account, step, command)
    if isinstance(result, Rejection):
        if isinstance(command, ReserveSimCard):
            refuse = RefuseSimRegistration(
                sim=command.sim,
                iccid=command.iccid,
                request_id=command.request_id,
                http_status=result.http_status,
                code=result.code,
                message=result.message,
            )
            sent.append((envelope.account_sid, "refused", refuse))
        elif isinstance(command, CompleteSimRegistration):
            release = ReleaseSimCard(iccid=command.iccid, sim=command.sim, reason=result.message)
            sent.append((envelope.account_sid, "release", release))
        elif isinstance(command, TransferSimCard):
            refuse = RefuseSimMove(
                sim=command.sim, request_id=command.request_id, message=result.message
            )
            sent.append((envelope.account_sid, "move-refused", refuse))
        elif isinstance(command, AllocateIpAddress):
            unavailable = RecordSimIpAddressUnavailable(
                sim=command.sim,
                pool=command.pool,
                request_id=command.request_id,
                reason=result.message,
            )
            sent.append((envelope.account_sid, "ip-unavailable", unavailable))
        elif isinstance(command, ClaimEsimCard):
            refuse = RefuseEsimCard(profile=command.profile, message=result.message)
            sent.append((envelope.account_sid, "esim-refused", refuse))
        elif isinstance(command, CompleteEsimProfile):
            release = ReleaseSimCard(iccid=command.iccid, sim=command.sim, reason=result.message)
            sent.append((envelope.account_sid, "release", release))
        return [_envelope(envelope, *step) for step in sent]

    for event in result:
        p = event.payload
        kind = event.type
        if kind == "SimRegistrationRequested":
            reserve = ReserveSimCard(
                iccid=p.iccid,
                registration_code_hash=p.registration_code_hash,
                sim=event.aggregate_id,
                request_id=envelope.command_id,
            )
            sent.append((envelope.account_sid, "reserve", reserve))
        elif kind == "SimCardReserved" and isinstance(command, ReserveSimCard):
            complete = CompleteSimRegistration(
                sim=p.sim_sid, iccid=event.aggregate_id, request_id=p.request_id
            )
            sent.append((envelope.account_sid, "complete", complete))
        elif kind == "SimRegistered" and isinstance(command, CompleteSimRegistration):
            confirm = ConfirmSimCard(iccid=p.iccid, sim=event.aggregate_id)
            sent.append((envelope.account_sid, "confirm", confirm))
        elif kind == "SimRegistrationRefused" and isinstance(command, AbandonSimRegistration):
            release = ReleaseSimCard(iccid=command.iccid, sim=command.sim, reason=p.message)
            sent.append((envelope.account_sid, "release", release))
        elif kind == "SimMoveRequested":
            sim = state.accounts[envelope.account_sid].sims[event.aggregate_id]
            transfer = TransferSimCard(
                iccid=sim.iccid,
                sim=sim.sid,
                to_account=p.to_account_sid,
                request_id=envelope.command_id,
                unique_name=sim.unique_name,
                callback_url=sim.callback_url,
                callback_method=sim.callback_method,
                registered_at=sim.registered_at or envelope.issued_at,
                data_suspended=sim.data_suspended,
                version=sim.version,
            )
            sent.append((envelope.account_sid, "transfer", transfer))
        elif kind == "SimCardTransferred":
            move_in = MoveSimIn(
                sim=p.sim_sid,
                iccid=event.aggregate_id,
                from_account=p.from_account_sid,
                request_id=command.request_id,
                unique_name=command.unique_name,
                callback_url=command.callback_url,
                callback_method=command.callback_method,
                registered_at=command.registered_at,
                data_suspended=command.data_suspended,
                version=command.version,
            )
            sent.append((p.to_account_sid, "move-in", move_in))
        elif kind == "SimMovedIn":
            move_out = MoveSimOut(
                sim=event.aggregate_id,
                to_account=envelope.account_sid,
                request_id=command.request_id,
                moved_in=[],
            )
            sent.append((p.from_account_sid, "move-out", move_out))
        elif kind == "SimStatusChanged" and p.to_status == "active":
            allocate = AllocateIpAddress(
                pool=pools.pool_for(envelope.account_sid),
                sim=event.aggregate_id,
                request_id=envelope.command_id,
            )
            sent.append((envelope.account_sid, "ip-allocate", allocate))
        elif kind == "SimIpAddressReleased":
            release = ReleaseIpAddress(
                address=p.ip_address,
                sim=event.aggregate_id,
                request_id=p.request_id,
                reason=p.reason,
            )
            sent.append((envelope.account_sid, "ip-release", release))
        elif kind == "IpAddressAllocated":
            record = RecordSimIpAddress(
                sim=p.sim_sid, address=event.aggregate_id, pool=p.pool, request_id=p.request_id
            )
            sent.append((envelope.account_sid, "ip-record", record))
        elif kind == "AccountCreated" and p.parent_account_sid is not None:
            adopt = AdoptSubaccount(subaccount=envelope.account_sid)
            sent.append((p.parent_account_sid, "adopt", adopt))
    if isinstance(command, ReceiveDeviceMessage):
        owner = state.sim_cards[command.iccid].owner  # the decider checked it has one
        record = RecordMessageFromSim(
            sim=owner.sim_sid,
            iccid=command.iccid,
            kind=command.kind,
            network_message_id=command.network_message_id,
            payload=command.payload,
            device_ip=command.device_ip,
            device_port=command.device_port,
        )
        sent.append((owner.account_sid, "from-sim", record))
    elif isinstance(command, RecordEsimProfileReport | ClaimEsimCard | CompleteEsimProfile):
        step = _esim_step(state, envelope)
        if step is not None:
            sent.append(step)
    # Asked again, with nothing new to record: the next step is asked again too.
    elif not result:
        repeat = _repeat(state, envelope)
        if repeat is not None:
            sent.append(repeat)
    envelopes = [_envelope(envelope, *step) for step in sent]
    settings = _settings_step(state, envelope, result)  # its id is not chained: see there
    return envelopes if settings is None else [*envelopes, settings]


def _esim_step(state: State, envelope: CommandEnvelope) -> tuple[str, str, Command] | None:
    """The next step of an eSIM Profile's card, whether its decision recorded something or
    was asked again (each step answers a repeat by asking the next one again)."""
    command, account_sid = envelope.command, envelope.account_sid
    if isinstance(command, RecordEsimProfileReport):
        account = state.accounts.get(account_sid)
        profile = account.esim_profiles.get(command.profile) if account else None
        waiting = profile is not None and profile.status in ("new", "reserving")
        if command.status != "available" or not waiting:
            return None
        claim = ClaimEsimCard(
            iccid=command.iccid,
            sim=sim_of(account_sid, command.profile),
            profile=command.profile,
            smdp_plus_address=command.smdp_plus_address,
            matching_id=command.matching_id,
            activation_code=command.activation_code,
        )
        return account_sid, "esim-claim", claim
    if isinstance(command, ClaimEsimCard):
        card = state.sim_cards.get(command.iccid)
        if card is None or CardHolder(account_sid, command.sim) not in (
            card.owner,
            card.reserved_for,
        ):
            return None
        complete = CompleteEsimProfile(
            iccid=command.iccid,
            sim=command.sim,
            profile=command.profile,
            smdp_plus_address=command.smdp_plus_address,
            matching_id=command.matching_id,
            activation_code=command.activation_code,
        )
        return account_sid, "esim-complete", complete
    account = state.accounts.get(account_sid)
    if account is not None and command.sim in account.sims:
        return account_sid, "confirm", ConfirmSimCard(iccid=command.iccid, sim=command.sim)
    return None


def _repeat(state: State, envelope: CommandEnvelope) -> tuple[str, str, Command] | None:
    command = envelope.command
    if isinstance(command, ReserveSimCard):
        card = state.sim_cards.get(command.iccid)
        if card is not None and card.reserved_for is not None:
            complete = CompleteSimRegistration(
                sim=command.sim, iccid=command.iccid, request_id=command.request_id
            )
            return envelope.account_sid, "complete", complete
    if isinstance(command, AllocateIpAddress):
        claim = IpClaim(envelope.account_sid, command.sim, command.request_id)
        address = state.ip_holders.get(CardHolder(claim.account_sid, claim.sim_sid))
        lease = None if address is None else state.ip_addresses[address]
        if lease is not None and lease.holder == claim:
            record = RecordSimIpAddress(
                sim=command.sim,
                address=address,
                pool=lease.pool or command.pool,
                request_id=command.request_id,
            )
            return envelope.account_sid, "ip-record", record
    if isinstance(command, RecordSimIpAddress):
        account = state.accounts.get(envelope.account_sid)
        sim = None if account is None else account.sims.get(command.sim)
        held = (command.address, command.request_id)
        if sim is None or (sim.ip_address, sim.ip_request) != held:
            release = ReleaseIpAddress(
                address=command.address,
                sim=command.sim,
                request_id=command.request_id,
                reason=NO_LONGER_ACTIVE,
            )
            return envelope.account_sid, "ip-release", release
    if isinstance(command, CompleteSimRegistration | AbandonSimRegistration):
        account = state.accounts.get(envelope.account_sid)
        if account is not None and command.sim in account.sims:
            return (
                envelope.account_sid,
                "confirm",
                ConfirmSimCard(iccid=command.iccid, sim=command.sim),
            )
        if account is None or command.sim not in account.registrations:
            reason = "the registration was no longer waiting"
            release = ReleaseSimCard(iccid=command.iccid, sim=command.sim, reason=reason)
            return envelope.account_sid, "release", release
    return None


_SETTINGS_CHANGES = {
    "FleetNetworkAccessProfileChanged": decide_settings.FLEET_PROFILE_CHANGED,
    "NetworkAddedToProfile": decide_settings.PROFILE_NETWORKS_CHANGED,
    "NetworkRemovedFromProfile": decide_settings.PROFILE_NETWORKS_CHANGED,
}


def _settings_step(
    state: State, envelope: CommandEnvelope, result: list[EventEnvelope]
) -> CommandEnvelope | None:
    """The chunk of Settings Updates this decision calls for: the first, after a change of
    the Sims' settings; the next, after a chunk with Sims after it."""
    command = envelope.command
    if isinstance(command, ScheduleSettingsUpdates):
        chunk, more = decide_settings.chunk_of(state.accounts[envelope.account_sid], command)
        if not more:
            return None
        step = replace(command, after=chunk[-1].sid, chunk=command.chunk + 1)
        return _settings_envelope(envelope, step)
    for event in result:
        reason = _SETTINGS_CHANGES.get(event.type)
        if reason is None:
            continue
        of_fleet = event.aggregate_type == "Fleet"
        step = ScheduleSettingsUpdates(
            cause=envelope.command_id,
            reason=reason,
            fleet=event.aggregate_id if of_fleet else None,
            network_access_profile=None if of_fleet else event.aggregate_id,
            size=decide_settings.CHUNK_SIZE,
        )
        return _settings_envelope(envelope, step)
    return None


def _settings_envelope(sender: CommandEnvelope, step: ScheduleSettingsUpdates):
    # The id from the cause and the chunk number, not chained from the sender's id, which
    # would grow with every chunk until the 200-character cut made them all one id.
    command_id = f"{step.cause}:settings:{step.chunk}"
    if len(command_id) > 200:
        command_id = f"{sha256(step.cause.encode()).hexdigest()}:settings:{step.chunk}"
    return CommandEnvelope(
        command_id=command_id,
        account_sid=sender.account_sid,
        actor=sender.actor,
        issued_at=sender.issued_at,
        correlation_id=sender.correlation_id or step.cause,
        command=step,
    )


def _envelope(cause: CommandEnvelope, account_sid: str, step: str, command: Command):
    return CommandEnvelope(
        command_id=f"{cause.command_id}:{step}"[-200:],
        account_sid=account_sid,
        actor=cause.actor,
        issued_at=cause.issued_at,
        correlation_id=cause.correlation_id or cause.command_id,
        command=command,
    )


def placed(follow_up: CommandEnvelope, refs: list[EventRef]) -> CommandEnvelope:
    """`follow_up` once the events of the decision that sent it are in the log (`refs`, with
    their positions): a MoveSimOut carries its SimMovedIn, so that the move's answer names it
    (a caller waiting to read its write waits for that event too)."""
    command = follow_up.command
    if isinstance(command, MoveSimOut) and not command.moved_in:
        moved_in = [ref for ref in refs if ref.type == "SimMovedIn"]
        return replace(follow_up, command=replace(command, moved_in=moved_in))
    return follow_up


def awaiting(state: State, envelope: CommandEnvelope) -> bool:
    """True while `envelope`'s answer waits on another partition: it is answered then."""
    command = envelope.command
    account = state.accounts.get(envelope.account_sid)
    if account is None:
        return False
    if isinstance(command, RegisterSim):
        return derive_sid(SIM, envelope.command_id, account.sid) in account.registrations
    if isinstance(command, UpdateSim):
        sim = account.find_sim(command.sim)
        return sim is not None and sim.move_request == envelope.command_id
    return False


def answered(
    envelope: CommandEnvelope, result: list[EventEnvelope] | Rejection
) -> tuple[str, str, Rejection | None, list[EventRef]] | None:
    """The earlier request this decision answers, if any: (account, command id, rejection or
    None for accepted, events of other partitions its accepted outcome also names)."""
    if isinstance(result, Rejection):
        return None
    command = envelope.command
    for event in result:
        p = event.payload
        if event.type == "SimRegistered" and isinstance(command, CompleteSimRegistration):
            return envelope.account_sid, command.request_id, None, []
        if event.type == "SimRegistrationRefused":
            rejection = Rejection(p.http_status, p.code, p.message)
            return envelope.account_sid, command.request_id, rejection, []
        if event.type == "SimMovedOut":
            return envelope.account_sid, command.request_id, None, list(command.moved_in)
        if event.type == "SimMoveRefused":
            return envelope.account_sid, command.request_id, Rejection(409, 20409, p.message), []
    return None
