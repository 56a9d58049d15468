"""Address pools for active Sims (IPv4), and which registry decides each address.

A pool is a CIDR block; the setting gives one for every account and optional ones per account
(`FLEETSTATE_IP_POOLS`: `10.64.0.0/10,AC...=10.200.0.0/24`). Pools may overlap or be shared by
several accounts: every address must still have one writer. Two CIDR blocks either nest or are
disjoint, so a pool of at most a /8 lies in one /8, and every pool that can share an address
with it lies in that same /8: the /8 names the registry (the record key of its commands) that
decides all of their addresses.
"""

from __future__ import annotations

import ipaddress
import socket
from functools import lru_cache

import msgspec

REGISTRY_PREFIX = 8  # a pool is a /8 or smaller, so it lies within one registry block
DEFAULT_POOL = "10.64.0.0/10"


class PoolError(ValueError):
    pass


@lru_cache(maxsize=1024)  # few pools, asked about at every allocation
def parse_pool(text: str) -> str:
    """The pool in canonical form ("10.64.0.0/10"), or PoolError saying what is wrong."""
    try:
        network = ipaddress.ip_network(text.strip(), strict=True)
    except ValueError as exc:
        raise PoolError(f"{text.strip()!r} is not a CIDR block: {exc}") from None
    if network.version != 4:
        raise PoolError(f"{network} is not IPv4: only IPv4 pools are served")
    if network.prefixlen < REGISTRY_PREFIX:
        raise PoolError(f"{network} is larger than a /{REGISTRY_PREFIX}")
    return str(network)


def registry_key(address_or_pool: str) -> str:
    """The record key of the registry deciding this address or pool: its /8."""
    first = ipaddress.ip_network(address_or_pool, strict=False).network_address
    block = ipaddress.ip_network(f"{first}/{REGISTRY_PREFIX}", strict=False)
    return f"ip:{block}"


@lru_cache(maxsize=1024)
def host_range(pool: str) -> tuple[int, int]:
    """The first and last address a Sim may get from the pool, as integers (not the network or
    broadcast address of a /30 or larger; a /31 and a /32 have no such addresses)."""
    network = ipaddress.IPv4Network(pool)
    first, last = int(network.network_address), int(network.broadcast_address)
    if network.prefixlen <= 30:
        first, last = first + 1, last - 1
    return first, last


def address_number(address: str) -> int:
    """A dotted IPv4 address as its integer (ipaddress's parsing costs more than a decision)."""
    return int.from_bytes(socket.inet_aton(address), "big")


def address_text(number: int) -> str:
    return socket.inet_ntoa(number.to_bytes(4, "big"))


class IpPools(msgspec.Struct, frozen=True):
    """Which pool an account's Sims get addresses from."""

    default: str = DEFAULT_POOL
    by_account: dict[str, str] = {}

    def pool_for(self, account_sid: str) -> str:
        return self.by_account.get(account_sid, self.default)

    @classmethod
    def parse(cls, text: str) -> IpPools:
        """`CIDR` (the default, at most once) and `AC...=CIDR` entries, comma-separated."""
        default, by_account = None, {}
        for entry in (part.strip() for part in text.split(",")):
            if not entry:
                continue
            account, eq, pool = entry.rpartition("=")
            if not eq:
                if default is not None:
                    raise PoolError(f"two default pools: {default} and {entry}")
                default = parse_pool(entry)
                continue
            account = account.strip()
            if len(account) != 34 or not account.startswith("AC"):
                raise PoolError(f"{account!r} is not an account SID (AC...)")
            if account in by_account:
                raise PoolError(f"two pools for {account}")
            by_account[account] = parse_pool(pool)
        return cls(default=default or DEFAULT_POOL, by_account=by_account)
