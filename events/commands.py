"""Commands: what a sender asks fleetstate to do, one Struct per command.

A command is a wish, not a fact: it is validated by the decider, which answers with events or
a Rejection. Fields the sender did not give are `UNSET`, which differs from an explicit `None`
("clear this value"), so an update only touches what was asked for. Value rules (ranges,
URL shapes, names) live in the decider so that every violation gets its Twilio error code;
decoding only checks the JSON shape.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import msgspec
from msgspec import UNSET, Meta, UnsetType

from events.ip_pools import registry_key
from events.refs import EventRef

UtcDatetime = Annotated[datetime, Meta(tz=True)]
AccountSid = Annotated[str, Meta(pattern="^AC[0-9a-f]{32}$")]
CommandId = Annotated[str, Meta(min_length=1, max_length=200)]


class BaseCommand(
    msgspec.Struct,
    frozen=True,
    gc=False,  # acyclic data: keep millions of messages out of the cyclic GC's way
    kw_only=True,
    tag_field="type",
    tag=True,  # the tag is the class name: {"type": "CreateFleet", ...}
    forbid_unknown_fields=True,  # a misspelt field must not be silently ignored
):
    pass


class NetworkIdentifier(msgspec.Struct, frozen=True, gc=False, forbid_unknown_fields=True):
    mcc: str
    mnc: str


# --- operator commands (account_sid must be OPERATOR_ACCOUNT_SID) -------------------------


class ProvisionNetwork(BaseCommand):
    friendly_name: str
    iso_country: str
    identifiers: list[NetworkIdentifier]


class ProvisionSimCard(BaseCommand):
    """Keyed by its ICCID: decided by the card's one writer (see `partition_key`)."""

    iccid: str
    registration_code: str


class CreateAccount(BaseCommand):
    """Sent with the NEW account's SID as envelope.account_sid (so it lands on that
    account's partition); only a hash of the auth token ever travels."""

    friendly_name: str
    auth_token_hash: str
    parent_account_sid: AccountSid | None = None  # makes it a subaccount of that account
    # The token encrypted with the operator's keys, for signing webhooks: never in clear.
    auth_token_sealed: str | None = None


class RotateAuthToken(BaseCommand):
    """The account's auth token is replaced; only the new token's hash travels, and the
    token encrypted for signing webhooks."""

    auth_token_hash: str
    auth_token_sealed: str | None = None


class CloseAccount(BaseCommand):
    """The account is closed for good: it no longer authenticates or takes commands."""


# --- between partitions: what the processor sends itself, one step of a process each -------
# A rule that spans partitions (one owner per SIM card) is decided by the card's partition, its
# one writer; these carry the steps between it and the accounts' partitions. Their ids derive
# from the request they serve, so a step repeated after a crash is the same command again.


class ReserveSimCard(BaseCommand):
    """Account -> card: hold the card for this Sim, if its code matches and it is free."""

    iccid: str
    registration_code_hash: str
    sim: str
    request_id: str  # the command that asked: RegisterSim's id


class ConfirmSimCard(BaseCommand):
    """Account -> card: the registration is recorded; the card is the account's."""

    iccid: str
    sim: str


class ReleaseSimCard(BaseCommand):
    """Account -> card: the registration was not recorded; the card is free again."""

    iccid: str
    sim: str
    reason: str


class TransferSimCard(BaseCommand):
    """Account -> card: the Sim moves to another account of the family."""

    iccid: str
    sim: str
    to_account: AccountSid
    request_id: str  # the UpdateSim that asked
    unique_name: str | None
    callback_url: str | None
    callback_method: str | None
    registered_at: UtcDatetime
    data_suspended: bool
    version: int  # the Sim's aggregate version when the move was asked


class CompleteSimRegistration(BaseCommand):
    """Card -> account: reserved for you; record the registration."""

    sim: str
    iccid: str
    request_id: str


class RefuseSimRegistration(BaseCommand):
    """Card -> account: not yours; the registration is refused with this error."""

    sim: str
    iccid: str
    request_id: str
    http_status: int
    code: int
    message: str


class AbandonSimRegistration(BaseCommand):
    """Card -> account: the reservation waited too long; finish it one way or the other."""

    sim: str
    iccid: str
    request_id: str


class AdoptSubaccount(BaseCommand):
    """New account -> its parent: a subaccount of yours exists."""

    subaccount: AccountSid


class MoveSimIn(BaseCommand):
    """Card -> the new account: the Sim is yours now."""

    sim: str
    iccid: str
    from_account: AccountSid
    request_id: str
    unique_name: str | None
    callback_url: str | None
    callback_method: str | None
    registered_at: UtcDatetime
    data_suspended: bool
    version: int  # the Sim's aggregate version before it moved in


class MoveSimOut(BaseCommand):
    """The new account -> the old one: the Sim moved in there; forget it and answer."""

    sim: str
    to_account: AccountSid
    request_id: str
    moved_in: list[EventRef]  # the SimMovedIn event, where it is in the log


class RefuseSimMove(BaseCommand):
    """Card -> account: the card is not this Sim's to move."""

    sim: str
    request_id: str
    message: str


# The address registry (services/domain/decide_ip.py): one writer per pool's addresses, keyed
# by the registry block of the pool (events.ip_pools.registry_key). An account asks for an
# address when a Sim becomes active and gives it back when it stops being active.


class AllocateIpAddress(BaseCommand):
    """Account -> registry: an address of this pool for this active Sim. The pool is chosen
    when asked and travels with the request, so a later change of the setting moves nothing."""

    pool: str
    sim: str
    request_id: str  # the command that made the Sim active


class ReleaseIpAddress(BaseCommand):
    """Account -> registry: this Sim holds the address it got for this request no more."""

    address: str
    sim: str
    request_id: str  # the activation it was allocated for: a stale release frees nothing
    reason: str


class RecordSimIpAddress(BaseCommand):
    """Registry -> account: this address is the Sim's."""

    sim: str
    address: str
    pool: str
    request_id: str


class RecordSimIpAddressUnavailable(BaseCommand):
    """Registry -> account: the pool had no free address for the Sim."""

    sim: str
    pool: str
    request_id: str
    reason: str


# --- Network Access Profiles --------------------------------------------------------------


class CreateNetworkAccessProfile(BaseCommand):
    unique_name: str | None | UnsetType = UNSET
    networks: list[str] = []


class UpdateNetworkAccessProfile(BaseCommand):
    network_access_profile: str  # SID or unique name (the path)
    unique_name: str | None | UnsetType = UNSET


class AddNetworkToProfile(BaseCommand):
    network_access_profile: str
    network: str


class RemoveNetworkFromProfile(BaseCommand):
    network_access_profile: str
    network: str


# --- Fleets ---------------------------------------------------------------------------------


class CreateFleet(BaseCommand):
    network_access_profile: str  # SID or unique name, required
    unique_name: str | None | UnsetType = UNSET
    data_enabled: bool | UnsetType = UNSET
    data_limit: int | UnsetType = UNSET
    # SMS Commands: both spellings accepted, they must agree when both are given.
    commands_enabled: bool | UnsetType = UNSET
    sms_commands_enabled: bool | UnsetType = UNSET
    commands_url: str | None | UnsetType = UNSET
    sms_commands_url: str | None | UnsetType = UNSET
    commands_method: str | UnsetType = UNSET
    sms_commands_method: str | UnsetType = UNSET
    ip_commands_url: str | None | UnsetType = UNSET
    ip_commands_method: str | UnsetType = UNSET


class UpdateFleet(BaseCommand):
    fleet: str  # SID or unique name (the path)
    unique_name: str | None | UnsetType = UNSET
    network_access_profile: str | UnsetType = UNSET
    data_limit: int | UnsetType = UNSET
    commands_url: str | None | UnsetType = UNSET
    sms_commands_url: str | None | UnsetType = UNSET
    commands_method: str | UnsetType = UNSET
    sms_commands_method: str | UnsetType = UNSET
    ip_commands_url: str | None | UnsetType = UNSET
    ip_commands_method: str | UnsetType = UNSET
    # Immutable after creation: accepted on the wire only to be refused with a clear message.
    data_enabled: bool | UnsetType = UNSET
    commands_enabled: bool | UnsetType = UNSET
    sms_commands_enabled: bool | UnsetType = UNSET
    data_metering: str | UnsetType = UNSET


# --- Sims -----------------------------------------------------------------------------------


class RegisterSim(BaseCommand):
    # Optional on the wire so that a missing one is answered 83001, not a decode error.
    iccid: str | UnsetType = UNSET
    registration_code: str | UnsetType = UNSET


class UpdateSim(BaseCommand):
    sim: str  # SID or unique name (the path)
    account: str | UnsetType = UNSET  # AccountSid: move the Sim to this account (status new)
    unique_name: str | None | UnsetType = UNSET
    status: str | UnsetType = UNSET
    fleet: str | None | UnsetType = UNSET  # None unassigns
    callback_url: str | UnsetType = UNSET
    callback_method: str | UnsetType = UNSET


# --- data usage (sent by the usage processor, never by the API) -----------------------------
# Each carries the figures that justified it, so the events it becomes explain themselves.
# Periods are [period_start, period_end) in UTC; data_used and the thresholds are in bytes,
# data_limit in MB as on the Fleet.


class SuspendSimData(BaseCommand):
    sim: str
    period_start: UtcDatetime
    period_end: UtcDatetime
    data_used: int
    data_limit: int


class ResumeSimData(BaseCommand):
    sim: str
    period_start: UtcDatetime  # the period now current
    period_end: UtcDatetime
    data_used: int
    data_limit: int | None  # None: the Sim has no Fleet (any more)
    reason: str  # "new_period" | "limit_raised" | "fleet_changed"


class ActivateSimOnDataUsage(BaseCommand):
    """Contract, Sim rule 4: `ready` becomes `active` once the SIM used 250 KB in total."""

    sim: str
    data_used: int  # bytes used in total when the threshold was seen


# --- device commands ---------------------------------------------------------------------


class SendSmsCommand(BaseCommand):
    # Optional on the wire so that a missing one is answered with what is missing.
    sim: str | UnsetType = UNSET  # SID or unique name
    payload: str | UnsetType = UNSET
    callback_url: str | UnsetType = UNSET
    callback_method: str | UnsetType = UNSET


class SendIpCommand(BaseCommand):
    sim: str | UnsetType = UNSET
    payload: str | UnsetType = UNSET
    device_port: int | UnsetType = UNSET
    payload_type: str | UnsetType = UNSET  # text (the default) or binary (base64)
    callback_url: str | UnsetType = UNSET
    callback_method: str | UnsetType = UNSET


# From the network (the ingress, services/network/): what it reported, as commands. Their ids
# derive from the network's own ids, so a report the network sends twice is one command.


class RecordCommandReceipt(BaseCommand):
    """The network's receipt for a to_sim command of this account."""

    command: str  # the SmsCommand (HC) or IpCommand (HG) SID
    status: str  # sent | delivered | failed
    device_ip: str | None = None
    reason: str | None = None


class ReceiveDeviceMessage(BaseCommand):
    """A device sent a message: keyed by its ICCID, decided where the card is, whose one
    writer knows the card's owner and sends `RecordMessageFromSim` there."""

    iccid: str
    kind: Literal["sms", "ip"]
    network_message_id: str
    payload: str  # SMS text, or base64 for IP
    device_ip: str | None = None
    device_port: int | None = None


class RecordMessageFromSim(BaseCommand):
    """Card -> the owner's account: one of your Sims sent this."""

    sim: str
    iccid: str
    kind: Literal["sms", "ip"]
    network_message_id: str
    payload: str
    device_ip: str | None = None
    device_port: int | None = None


# --- eSIM Profiles (HP) ------------------------------------------------------------------
# Ordered from the SM-DP+ (the mobile network's profile server, over the network interface):
# it answers with the profile's ICCID, which becomes a SIM card of the account through the
# card's one writer, like any card.


class CreateEsimProfile(BaseCommand):
    # Optional on the wire so that a missing one is answered with what is missing.
    eid: str | UnsetType = UNSET
    generate_matching_id: bool | UnsetType = UNSET
    callback_url: str | UnsetType = UNSET
    callback_method: str | UnsetType = UNSET


class RecordEsimProfileReport(BaseCommand):
    """The SM-DP+ reported on a profile of this account (the ingress: the network's id)."""

    profile: str  # the EsimProfile SID (HP)
    status: str  # reserving | available | downloaded | installed | failed
    iccid: str | None = None  # with available
    smdp_plus_address: str | None = None
    matching_id: str | None = None
    activation_code: str | None = None
    error_code: str | None = None  # with failed
    error_message: str | None = None


class ClaimEsimCard(BaseCommand):
    """Account -> card: the SM-DP+ made this ICCID for the account's profile; hold the card
    (new to the inventory) for the profile's Sim. What the profile shows travels along, so
    the answer carries it back."""

    iccid: str
    sim: str
    profile: str
    smdp_plus_address: str | None
    matching_id: str | None
    activation_code: str | None


class CompleteEsimProfile(BaseCommand):
    """Card -> account: the card is held for the profile's Sim; the profile is available."""

    iccid: str
    sim: str
    profile: str
    smdp_plus_address: str | None
    matching_id: str | None
    activation_code: str | None


class RefuseEsimCard(BaseCommand):
    """Card -> account: the ICCID is another's; the profile failed."""

    profile: str
    message: str


# --- Settings Updates -----------------------------------------------------------------------


class ScheduleSettingsUpdates(BaseCommand):
    """Account -> itself: one chunk of the Settings Updates a change calls for (a profile's
    Networks, a Fleet's profile), for the Sims after `after` in SID order; the step that
    schedules a full chunk sends the next. Its id derives from `cause` and `chunk`."""

    cause: str  # the command that made the change
    reason: str  # the SettingsUpdateScheduled reason
    network_access_profile: str | None = None  # every Fleet using this profile, or
    fleet: str | None = None  # this Fleet alone
    after: str | None = None  # the last Sim SID of the chunk before
    chunk: int = 1
    size: int = 500  # Sims per chunk, the same for every step of one change


class RecordSettingsUpdateStatus(BaseCommand):
    """The network's report on a Settings Update of this account (from the ingress)."""

    settings_update: str  # OB...
    status: str  # in-progress | successful | failed
    reason: str | None = None


Command = (
    ProvisionNetwork
    | ProvisionSimCard
    | CreateAccount
    | RotateAuthToken
    | CloseAccount
    | ReserveSimCard
    | ConfirmSimCard
    | ReleaseSimCard
    | TransferSimCard
    | CompleteSimRegistration
    | RefuseSimRegistration
    | AbandonSimRegistration
    | AdoptSubaccount
    | MoveSimIn
    | MoveSimOut
    | RefuseSimMove
    | AllocateIpAddress
    | ReleaseIpAddress
    | RecordSimIpAddress
    | RecordSimIpAddressUnavailable
    | CreateNetworkAccessProfile
    | UpdateNetworkAccessProfile
    | AddNetworkToProfile
    | RemoveNetworkFromProfile
    | CreateFleet
    | UpdateFleet
    | RegisterSim
    | UpdateSim
    | SuspendSimData
    | ResumeSimData
    | ActivateSimOnDataUsage
    | SendSmsCommand
    | SendIpCommand
    | RecordCommandReceipt
    | ReceiveDeviceMessage
    | RecordMessageFromSim
    | ScheduleSettingsUpdates
    | RecordSettingsUpdateStatus
    | CreateEsimProfile
    | RecordEsimProfileReport
    | ClaimEsimCard
    | CompleteEsimProfile
    | RefuseEsimCard
)

COMMAND_TYPES: tuple[type[BaseCommand], ...] = Command.__args__


class CommandEnvelope(
    msgspec.Struct, frozen=True, gc=False, kw_only=True, forbid_unknown_fields=True
):
    command_id: CommandId  # chosen by the sender; the idempotency key
    account_sid: AccountSid  # the partition key: one writer per account
    actor: str  # who asked: account, API credential or service name
    issued_at: UtcDatetime  # becomes occurred_at of every resulting event
    correlation_id: str | None = None
    command: Command


# The steps the processor sends itself along the processes that span partitions.
PROCESS_STEPS = (
    ReserveSimCard,
    ConfirmSimCard,
    ReleaseSimCard,
    TransferSimCard,
    CompleteSimRegistration,
    RefuseSimRegistration,
    AbandonSimRegistration,
    AdoptSubaccount,
    MoveSimIn,
    MoveSimOut,
    RefuseSimMove,
    RecordMessageFromSim,
    AllocateIpAddress,
    ReleaseIpAddress,
    RecordSimIpAddress,
    RecordSimIpAddressUnavailable,
    ClaimEsimCard,
    CompleteEsimProfile,
    RefuseEsimCard,
    ScheduleSettingsUpdates,
)

# What the network reported, as the ingress turns it into commands.
NETWORK_REPORTS = (
    RecordCommandReceipt,
    ReceiveDeviceMessage,
    RecordEsimProfileReport,
    RecordSettingsUpdateStatus,
)
# Facts the usage processor reports about a Sim's data.
USAGE_FACTS = (SuspendSimData, ResumeSimData, ActivateSimOnDataUsage)
# What only the operator asks: the inventory, the catalogue, accounts and their credentials.
OPERATOR_COMMANDS = (
    ProvisionNetwork,
    ProvisionSimCard,
    CreateAccount,
    RotateAuthToken,
    CloseAccount,
)

# Who may send a command, which is the topic it must arrive on: a consumer cannot see who
# produced a record, so each kind of sender writes a topic of its own and the broker's ACLs
# say who may write which. The processor decides a command only from the topic of its kind.
Sender = Literal["tenant", "operator", "internal"]


def sender_of(command: Command) -> Sender:
    """Tenants (the API, services of the accounts); the operator; fleetstate's own processors
    (the steps of processes across partitions, the usage facts, the network's reports)."""
    if isinstance(command, OPERATOR_COMMANDS):
        return "operator"
    if isinstance(command, PROCESS_STEPS + USAGE_FACTS + NETWORK_REPORTS):
        return "internal"
    return "tenant"


# Commands about one SIM card, decided by the partition of its ICCID: the card's one writer.
CARD_COMMANDS = (
    ProvisionSimCard,
    ReserveSimCard,
    ConfirmSimCard,
    ReleaseSimCard,
    TransferSimCard,
    ReceiveDeviceMessage,
    ClaimEsimCard,
)


# Commands about addresses, decided by the partition of their registry block: its one writer.
IP_COMMANDS = (AllocateIpAddress, ReleaseIpAddress)


def partition_key(envelope: CommandEnvelope) -> str:
    """The record key a command is sent with, which picks its partition: the ICCID for a
    card's commands, the registry block for an address's, the account for every other."""
    command = envelope.command
    if isinstance(command, CARD_COMMANDS):
        return command.iccid
    if isinstance(command, AllocateIpAddress):
        return registry_key(command.pool)
    if isinstance(command, ReleaseIpAddress):
        return registry_key(command.address)
    return envelope.account_sid
