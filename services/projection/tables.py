"""The read-model tables as the projection sees them: name, key columns, all columns.

One description serves every adapter: the live projector's upserts, replay's COPY, and the
row-by-row comparison of a replay with the live schema. It must match migrations/.
"""

from __future__ import annotations

from typing import NamedTuple

from events.event_types import FleetCreated


class Table(NamedTuple):
    name: str
    key: tuple[str, ...]
    columns: tuple[str, ...]


_TIMES = ("version", "date_created", "date_updated")

ACCOUNTS = Table(
    "accounts",
    ("sid",),
    # parent_account_sid: 0005; date_closed: 0007
    ("sid", "friendly_name", "auth_token_hash", *_TIMES, "parent_account_sid", "date_closed"),
)
NETWORKS = Table(
    "networks", ("sid",), ("sid", "friendly_name", "iso_country", "identifiers", *_TIMES)
)
SIM_CARDS = Table(
    "sim_cards", ("iccid",), ("iccid", "registration_code_hash", "version", "date_created")
)
PROFILES = Table(
    "network_access_profiles", ("sid",), ("sid", "account_sid", "unique_name", *_TIMES)
)
PROFILE_NETWORKS = Table(
    "network_access_profile_networks",
    ("network_access_profile_sid", "network_sid"),
    ("network_access_profile_sid", "network_sid", "account_sid", "date_created"),
)
# A Fleet's columns are FleetCreated's fields (as are the decider's Fleet record's).
FLEETS = Table("fleets", ("sid",), ("sid", "account_sid", *FleetCreated.__struct_fields__, *_TIMES))

SIMS = Table(
    "sims",
    ("sid",),
    (
        "sid",
        "account_sid",
        "unique_name",
        "iccid",
        "status",
        "fleet_sid",
        "callback_url",
        "callback_method",
        *_TIMES,
        "data_suspended",  # 0003_usage.sql
    ),
)

# 0008_device_commands.sql
_DEVICE_COMMAND = ("sim_sid", "sim_iccid", "payload", "status", "direction")
SMS_COMMANDS = Table("sms_commands", ("sid",), ("sid", "account_sid", *_DEVICE_COMMAND, *_TIMES))
IP_COMMANDS = Table(
    "ip_commands",
    ("sid",),
    (
        "sid",
        "account_sid",
        *_DEVICE_COMMAND,
        "payload_type",
        "device_ip",
        "device_port",
        *_TIMES,
    ),
)

# 0010_sim_ip_addresses.sql: the address an active Sim holds, a member of the Sim's view.
SIM_IP_ADDRESSES = Table(
    "sim_ip_addresses",
    ("sim_sid", "ip_address"),
    ("sim_sid", "ip_address", "sid", "account_sid", "ip_address_version", "pool", "date_created"),
)

# The address registry's addresses (the IpAddress aggregate): who holds each, for the audit.
IP_ADDRESSES = Table(
    "ip_addresses",
    ("address",),
    ("address", "pool", "account_sid", "sim_sid", "request_id", "version", "date_updated"),
)

# 0011_esim_profiles.sql
ESIM_PROFILES = Table(
    "esim_profiles",
    ("sid",),
    (
        "sid",
        "account_sid",
        "eid",
        "status",
        "iccid",
        "sim_sid",
        "smdp_plus_address",
        "matching_id",
        "activation_code",
        "error_code",
        "error_message",
        "callback_url",
        "callback_method",
        *_TIMES,
    ),
)

# 0012_settings_updates.sql; packages: [{"name": ..., "version": ...}] (jsonb)
SETTINGS_UPDATES = Table(
    "settings_updates",
    ("sid",),
    ("sid", "account_sid", "sim_sid", "iccid", "status", "packages", "date_completed", *_TIMES),
)

# One row per event: the audit trail (migrations/0004). log_partition and log_offset place the
# event in the events topic; payload is the decoded payload, stored as jsonb.
EVENT_HISTORY = Table(
    "event_history",
    ("event_id",),
    (
        "event_id",
        "account_sid",
        "aggregate_type",
        "aggregate_id",
        "aggregate_version",
        "type",
        "schema_version",
        "occurred_at",
        "actor",
        "command_id",
        "correlation_id",
        "payload",
        "log_partition",
        "log_offset",
    ),
)

TABLES: tuple[Table, ...] = (
    ACCOUNTS,
    NETWORKS,
    SIM_CARDS,
    PROFILES,
    PROFILE_NETWORKS,
    FLEETS,
    SIMS,
    SMS_COMMANDS,
    IP_COMMANDS,
    SIM_IP_ADDRESSES,
    IP_ADDRESSES,
    SETTINGS_UPDATES,
    ESIM_PROFILES,
    EVENT_HISTORY,
)
