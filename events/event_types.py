"""Events: facts that happened, one Struct per fine-grained fact, never "X updated".

Payloads do not repeat what the envelope carries (account_sid, aggregate_id): the envelope is
always delivered with them. Every type has a schema version in `SCHEMA_VERSIONS`; when a type's
shape changes its version is bumped and an upcaster from the old shape is added to
`events.codec.UPCASTERS`, so the oldest log still replays.
"""

from __future__ import annotations

from datetime import datetime

import msgspec


class BaseEvent(msgspec.Struct, frozen=True, gc=False, kw_only=True, tag_field="type", tag=True):
    # Unknown fields are ignored (not forbidden): a reader may be older than the writer.
    pass


class NetworkIdentifier(msgspec.Struct, frozen=True, gc=False):
    mcc: str
    mnc: str


# --- operator / accounts ---------------------------------------------------------------------


class AccountCreated(BaseEvent):
    friendly_name: str
    auth_token_hash: str
    parent_account_sid: str | None = None  # a subaccount's parent
    # The auth token encrypted with the operator's token keys (services/delivery/sealing.py):
    # webhooks are signed with it. None: sent without keys configured (or an older event).
    auth_token_sealed: str | None = None


class AuthTokenChanged(BaseEvent):
    """The account's auth token was replaced: the old one stops working."""

    auth_token_hash: str
    auth_token_sealed: str | None = None  # as on AccountCreated


class AccountClosed(BaseEvent):
    """The account no longer authenticates nor takes commands (processes under way finish)."""


class SubaccountAdded(BaseEvent):
    """An account created with this one as its parent: Sims may move to it."""

    subaccount_sid: str


class NetworkProvisioned(BaseEvent):
    friendly_name: str
    iso_country: str
    identifiers: list[NetworkIdentifier]


class SimCardProvisioned(BaseEvent):
    iccid: str
    # sha256 of iccid + registration code: the code itself never reaches the log.
    registration_code_hash: str


# --- the card registry: one writer per SIM card, the partition of its ICCID ------------------
# Envelope: aggregate SimCard, aggregate_id the ICCID, account_sid the account that asked.


class SimCardReserved(BaseEvent):
    """Held for a registration the account's partition is recording."""

    sim_sid: str
    request_id: str  # the RegisterSim it serves


class SimCardReservationReleased(BaseEvent):
    sim_sid: str
    reason: str


class SimCardAssigned(BaseEvent):
    """The card is the account's: its one owner, until it is transferred."""

    sim_sid: str


class SimCardTransferred(BaseEvent):
    """The card, and its Sim, now belong to another account: ownership changes here, once."""

    sim_sid: str
    from_account_sid: str
    to_account_sid: str


# --- the address registry: one writer per registry block (events.ip_pools.registry_key) -------
# Envelope: aggregate IpAddress, aggregate_id the address, account_sid the account that asked.


class IpAddressAllocated(BaseEvent):
    """The address is this Sim's until released: never two Sims' at once."""

    sim_sid: str
    pool: str  # the pool it came from, as asked: a replay needs no setting
    request_id: str  # the command that made the Sim active


class IpAddressReleased(BaseEvent):
    sim_sid: str
    request_id: str  # the activation it had been allocated for
    reason: str


# --- Network Access Profiles -----------------------------------------------------------------


class NetworkAccessProfileCreated(BaseEvent):
    unique_name: str | None
    network_sids: list[str]


class NetworkAccessProfileRenamed(BaseEvent):
    from_unique_name: str | None
    to_unique_name: str | None


class NetworkAddedToProfile(BaseEvent):
    network_sid: str


class NetworkRemovedFromProfile(BaseEvent):
    network_sid: str


# --- Fleets ----------------------------------------------------------------------------------


class FleetCreated(BaseEvent):
    """v2: the SMS Commands settings are named sms_commands_* (v1 said commands_*)."""

    unique_name: str | None
    network_access_profile_sid: str
    data_enabled: bool
    data_limit: int
    data_metering: str
    sms_commands_enabled: bool
    sms_commands_url: str | None
    sms_commands_method: str
    ip_commands_url: str | None
    ip_commands_method: str


class FleetRenamed(BaseEvent):
    from_unique_name: str | None
    to_unique_name: str | None


class FleetDataLimitChanged(BaseEvent):
    from_data_limit: int
    to_data_limit: int


class FleetNetworkAccessProfileChanged(BaseEvent):
    from_network_access_profile_sid: str
    to_network_access_profile_sid: str


class FleetSmsCommandsUrlChanged(BaseEvent):
    from_url: str | None
    to_url: str | None


class FleetSmsCommandsMethodChanged(BaseEvent):
    from_method: str
    to_method: str


class FleetIpCommandsUrlChanged(BaseEvent):
    from_url: str | None
    to_url: str | None


class FleetIpCommandsMethodChanged(BaseEvent):
    from_method: str
    to_method: str


# --- Sims ------------------------------------------------------------------------------------


class SimRegistrationRequested(BaseEvent):
    """The account asked the card registry for the card; SimRegistered or
    SimRegistrationRefused follows, when the registry has answered."""

    iccid: str
    registration_code_hash: str


class SimRegistrationRefused(BaseEvent):
    http_status: int
    code: int
    message: str


class SimRegistered(BaseEvent):
    """A SIM card from the inventory joined the account: status `new`, no Fleet."""

    iccid: str


class SimMoveRequested(BaseEvent):
    """The Sim is to move to another account of the family; no other change meanwhile."""

    to_account_sid: str


class SimMoveRefused(BaseEvent):
    message: str


class SimMovedIn(BaseEvent):
    """The Sim joined this account from another (its card was transferred): status `new`,
    no Fleet, its name kept unless this account has a Sim of that name."""

    from_account_sid: str
    iccid: str
    unique_name: str | None
    callback_url: str | None
    callback_method: str | None
    registered_at: datetime  # when it was first registered: its date_created
    data_suspended: bool


class SimMovedOut(BaseEvent):
    """An Account event: one of its Sims now belongs to another account."""

    sim_sid: str
    to_account_sid: str


class SimRenamed(BaseEvent):
    from_unique_name: str | None
    to_unique_name: str | None


class SimAssignedToFleet(BaseEvent):
    from_fleet_sid: str | None
    to_fleet_sid: str | None  # None: the Sim left its Fleet


class SimStatusChanged(BaseEvent):
    from_status: str
    to_status: str
    reason: str  # "requested" for API/bus requests; room for e.g. "data_usage" (250 KB rule)
    # A requested change calls the Sim's CallbackUrl once made (absent from older events).
    callback_url: str | None = None
    callback_method: str | None = None


class SimIpAddressAssigned(BaseEvent):
    """The active Sim has this address (the registry allocated it)."""

    ip_address: str
    ip_address_version: str  # IPv4 | IPv6 (Twilio's enum)
    pool: str
    request_id: str  # the activation it was allocated for


class SimIpAddressReleased(BaseEvent):
    """The Sim stopped being active: its address goes back to its pool."""

    ip_address: str
    pool: str
    request_id: str  # the activation it was allocated for
    reason: str


class SimIpAddressUnavailable(BaseEvent):
    """The Sim became active but got no address: its pool had none free."""

    pool: str
    request_id: str  # the activation that found no address
    reason: str


class SimCallbackChanged(BaseEvent):
    url: str | None
    method: str


class SimDataSuspended(BaseEvent):
    """The Sim used more than its Fleet's data limit in this billing period: data stops."""

    period_start: datetime
    period_end: datetime
    data_used: int  # bytes in the period when the limit was passed
    data_limit: int  # MB, the Fleet's limit then


class SimDataResumed(BaseEvent):
    period_start: datetime  # the period now current
    period_end: datetime
    data_used: int
    data_limit: int | None
    reason: str  # "new_period" | "limit_raised" | "fleet_changed"


# --- device commands: SmsCommands (HC) and IpCommands (HG) ------------------------------------
# Envelope: aggregate SmsCommand or IpCommand, aggregate_id its SID, account_sid the Sim's
# account. What a webhook needs travels in the event that calls for it (callback_* on a
# command's status changes, webhook_* on a message from a Sim: the Fleet's URL when it came),
# so the delivery service reads the log alone and a later settings change cannot redirect a
# past message.


class SmsCommandQueued(BaseEvent):
    """to_sim: accepted for the network; status `queued`."""

    sim_sid: str
    sim_iccid: str
    payload: str
    callback_url: str | None
    callback_method: str


class SmsCommandReceived(BaseEvent):
    """from_sim: the device sent it; status `received`."""

    sim_sid: str
    sim_iccid: str
    payload: str
    network_message_id: str  # the network's id of it
    webhook_url: str | None  # the Fleet's sms_commands_url then, if any
    webhook_method: str


class SmsCommandStatusChanged(BaseEvent):
    """The network reported on a to_sim command: sent, delivered or failed."""

    sim_sid: str
    from_status: str
    to_status: str
    reason: str | None
    callback_url: str | None  # the command's, called with the new status
    callback_method: str


class IpCommandQueued(BaseEvent):
    sim_sid: str
    sim_iccid: str
    payload: str  # UTF-8 text, or base64 when payload_type is binary
    payload_type: str
    device_port: int
    callback_url: str | None
    callback_method: str


class IpCommandReceived(BaseEvent):
    sim_sid: str
    sim_iccid: str
    payload: str  # base64: what a device sends is binary
    payload_type: str  # always "binary" (Twilio's rule for what a device sends)
    device_ip: str
    device_port: int
    network_message_id: str
    webhook_url: str | None  # the Fleet's ip_commands_url then, if any
    webhook_method: str


class IpCommandStatusChanged(BaseEvent):
    sim_sid: str
    from_status: str
    to_status: str
    device_ip: str | None  # the device's address once sent
    reason: str | None
    callback_url: str | None
    callback_method: str


# --- eSIM Profiles (HP) -----------------------------------------------------------------------
# Envelope: aggregate EsimProfile, aggregate_id its SID. Status moves forward only:
# new -> reserving -> available -> downloaded -> installed, or failed from any but the last.


class EsimProfileCreated(BaseEvent):
    """Ordered from the SM-DP+: status `new`. The relay sends the reservation."""

    eid: str | None
    generate_matching_id: bool
    callback_url: str | None
    callback_method: str


class EsimProfileStatusChanged(BaseEvent):
    """The SM-DP+ reported: reserving, downloaded, installed or failed (with its error)."""

    from_status: str
    to_status: str
    error_code: str | None = None
    error_message: str | None = None


class EsimProfileAvailable(BaseEvent):
    """Reserved on the SM-DP+, its ICCID the account's Sim (`sim_sid`, status new): ready to
    download. Twilio calls the profile's CallbackUrl on this change alone."""

    from_status: str
    iccid: str
    sim_sid: str
    smdp_plus_address: str | None
    matching_id: str | None
    activation_code: str | None
    callback_url: str | None
    callback_method: str


# --- Settings Updates (OB): what a change of a Sim's settings sends to the SIM ----------------
# Envelope: aggregate SettingsUpdate, aggregate_id its SID, account_sid the Sim's account. The
# packages are what the SIM holds once the update succeeds (services/domain/decide_settings.py
# says what a package is and how its version is derived).


class SettingsPackage(msgspec.Struct, frozen=True, gc=False):
    name: str
    version: str


class SettingsUpdateScheduled(BaseEvent):
    """A change reached the Sim's settings; status `scheduled` until the network reports."""

    sim_sid: str
    iccid: str
    packages: list[SettingsPackage]
    # What changed: "fleet_assigned", "fleet_profile_changed" or "profile_networks_changed".
    reason: str


class SettingsUpdateStatusChanged(BaseEvent):
    """The network reported on the update: in-progress, then successful or failed."""

    sim_sid: str
    from_status: str
    to_status: str
    reason: str | None  # the network's, when it failed


Event = (
    AccountCreated
    | AuthTokenChanged
    | AccountClosed
    | SubaccountAdded
    | NetworkProvisioned
    | SimCardProvisioned
    | SimCardReserved
    | SimCardReservationReleased
    | SimCardAssigned
    | SimCardTransferred
    | IpAddressAllocated
    | IpAddressReleased
    | NetworkAccessProfileCreated
    | NetworkAccessProfileRenamed
    | NetworkAddedToProfile
    | NetworkRemovedFromProfile
    | FleetCreated
    | FleetRenamed
    | FleetDataLimitChanged
    | FleetNetworkAccessProfileChanged
    | FleetSmsCommandsUrlChanged
    | FleetSmsCommandsMethodChanged
    | FleetIpCommandsUrlChanged
    | FleetIpCommandsMethodChanged
    | SimRegistrationRequested
    | SimRegistrationRefused
    | SimRegistered
    | SimMoveRequested
    | SimMoveRefused
    | SimMovedIn
    | SimMovedOut
    | SimRenamed
    | SimAssignedToFleet
    | SimStatusChanged
    | SimCallbackChanged
    | SimIpAddressAssigned
    | SimIpAddressReleased
    | SimIpAddressUnavailable
    | SimDataSuspended
    | SimDataResumed
    | SmsCommandQueued
    | SmsCommandReceived
    | SmsCommandStatusChanged
    | IpCommandQueued
    | IpCommandReceived
    | IpCommandStatusChanged
    | SettingsUpdateScheduled
    | SettingsUpdateStatusChanged
    | EsimProfileCreated
    | EsimProfileStatusChanged
    | EsimProfileAvailable
)

EVENT_TYPES: dict[str, type[BaseEvent]] = {cls.__name__: cls for cls in Event.__args__}

# The current schema version of every event type; bump it together with an upcaster.
SCHEMA_VERSIONS: dict[str, int] = {name: 1 for name in EVENT_TYPES}
SCHEMA_VERSIONS["FleetCreated"] = 2
