"""The kinds of resources an audit can name, and how one resource looks in folded rows.

A resource's view is its read-model row plus the rows of its members (a Network Access
Profile's Networks), as one flat dict: what as-of shows and what history compares before and
after each event.
"""

from __future__ import annotations

import ipaddress
from typing import Any, NamedTuple

from events.sids import is_sid
from services.audit.fold import Tables
from services.projection.tables import (
    ACCOUNTS,
    ESIM_PROFILES,
    FLEETS,
    IP_ADDRESSES,
    IP_COMMANDS,
    NETWORKS,
    PROFILE_NETWORKS,
    PROFILES,
    SETTINGS_UPDATES,
    SIM_CARDS,
    SIM_IP_ADDRESSES,
    SIMS,
    SMS_COMMANDS,
    Table,
)


class Kind(NamedTuple):
    aggregate_type: str  # as in the event envelope
    name: str  # as typed on the command line
    prefix: str | None  # SID prefix; None for SIM cards, named by ICCID
    table: Table  # the row, keyed by the aggregate id
    members: dict[str, Table]  # view field -> table keyed (aggregate id, member id)
    named: bool  # has a unique_name


FLEET = Kind("Fleet", "fleet", "HF", FLEETS, {}, True)
# A Sim's view holds the address it has while active (its IpAddresses).
SIM = Kind("Sim", "sim", "HS", SIMS, {"ip_addresses": SIM_IP_ADDRESSES}, True)
PROFILE = Kind(
    "NetworkAccessProfile", "profile", "HA", PROFILES, {"networks": PROFILE_NETWORKS}, True
)
NETWORK = Kind("Network", "network", "HW", NETWORKS, {}, False)
SIM_CARD = Kind("SimCard", "sim-card", None, SIM_CARDS, {}, False)
ACCOUNT = Kind("Account", "account", "AC", ACCOUNTS, {}, False)
SMS_COMMAND = Kind("SmsCommand", "sms-command", "HC", SMS_COMMANDS, {}, False)
IP_COMMAND = Kind("IpCommand", "ip-command", "HG", IP_COMMANDS, {}, False)
ESIM_PROFILE = Kind("EsimProfile", "esim-profile", "HP", ESIM_PROFILES, {}, False)
SETTINGS_UPDATE = Kind("SettingsUpdate", "settings-update", "OB", SETTINGS_UPDATES, {}, False)

# An address of the registry, named by itself: who holds it (the registry's one writer).
IP_ADDRESS = Kind("IpAddress", "ip-address", None, IP_ADDRESSES, {}, False)

KINDS: tuple[Kind, ...] = (
    FLEET,
    SIM,
    PROFILE,
    NETWORK,
    SIM_CARD,
    ACCOUNT,
    SMS_COMMAND,
    IP_COMMAND,
    IP_ADDRESS,
    ESIM_PROFILE,
    SETTINGS_UPDATE,
)
BY_NAME = {kind.name: kind for kind in KINDS}
BY_AGGREGATE_TYPE = {kind.aggregate_type: kind for kind in KINDS}


def kind_of_sid(ref: str) -> Kind | None:
    """The kind a reference names by its shape: a SID of a kind, or an ICCID; None for
    anything else (a unique name)."""
    for kind in KINDS:
        if kind.prefix is not None and is_sid(kind.prefix, ref):
            return kind
    if ref.startswith("89") and ref.isdigit() and 18 <= len(ref) <= 22:
        return SIM_CARD
    if _is_ipv4(ref):
        return IP_ADDRESS
    return None


def _is_ipv4(ref: str) -> bool:
    try:
        return isinstance(ipaddress.ip_address(ref), ipaddress.IPv4Address)
    except ValueError:
        return False


def names_itself(kind: Kind, ref: str) -> bool:
    """True when `ref` is an id of this kind rather than a unique name."""
    return kind_of_sid(ref) is kind


def resource_view(tables: Tables, kind: Kind, aggregate_id: str) -> dict[str, Any] | None:
    """The resource as the folded rows hold it, or None when it does not exist (yet)."""
    row = tables.get(kind.table.name, {}).get((aggregate_id,))
    if row is None:
        return None
    view = {column: row.get(column) for column in kind.table.columns}
    for field, table in kind.members.items():
        keys = tables.get(table.name, {})
        view[field] = sorted(key[1] for key in keys if key[0] == aggregate_id)
    return view
