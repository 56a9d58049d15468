"""Which addresses a webhook may reach: the guard against server-side request forgery.

A customer chooses the URL, so without a guard a webhook could reach what only fleetstate can:
its database, the cloud's metadata service (credentials), an admin port on localhost. A URL is
checked twice: its form (`check_url`, pure), then every address its host resolves to
(`resolve`). The sender connects to one of exactly those addresses, never resolving again, so
a name that answers differently the second time (DNS rebinding) gains nothing.

Refused unless FLEETSTATE_WEBHOOK_ALLOW lists them: loopback, private (RFC 1918, fc00::/7),
link-local, carrier-grade NAT (100.64.0.0/10), unspecified, multicast, reserved or otherwise
not globally routable addresses, the same inside IPv4-mapped IPv6, and the cloud metadata
addresses. A metadata address is allowed only by an entry naming that one address: allowing
169.254.0.0/16 for a device on the link must not open the metadata service with it.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from typing import TypeAlias
from urllib.parse import urlsplit

SETTING = "FLEETSTATE_WEBHOOK_ALLOW"

IPAddress: TypeAlias = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork: TypeAlias = ipaddress.IPv4Network | ipaddress.IPv6Network

DEFAULT_PORTS = {"http": 80, "https": 443}

METADATA = frozenset(
    ipaddress.ip_address(a) for a in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200")
)
CGNAT = ipaddress.ip_network("100.64.0.0/10")
# NAT64's well-known prefix: the gateway connects to the IPv4 address in the last 32 bits.
NAT64 = ipaddress.ip_network("64:ff9b::/96")


@dataclass(frozen=True)
class Target:
    """A webhook URL whose form is acceptable: its host still has to be resolved and checked."""

    url: str
    scheme: str
    host: str  # lower case, an IPv6 literal without its brackets
    port: int


@dataclass(frozen=True)
class Refused:
    """Why a webhook may not be sent there, in words for the customer and the operator."""

    reason: str


@dataclass(frozen=True)
class Allowed:
    """One entry of the allow list: a network, on every port or on one."""

    network: IPNetwork
    port: int | None = None

    def admits(self, address: IPAddress, port: int) -> bool:
        if self.port is not None and port != self.port:
            return False
        if address in METADATA:  # only by name: see the module docstring
            return self.network.num_addresses == 1 and address in self.network
        return address in self.network


@dataclass(frozen=True)
class Policy:
    """Addresses allowed although the guard would refuse them (the default allows none)."""

    allow: tuple[Allowed, ...] = ()

    @classmethod
    def parse(cls, setting: str) -> Policy:
        """From FLEETSTATE_WEBHOOK_ALLOW: comma-separated networks ("10.1.0.0/16", "::1"),
        or an address and one port ("127.0.0.1:8099", "[::1]:8099"). Raises ValueError."""
        return cls(tuple(_entry(part.strip()) for part in setting.split(",") if part.strip()))

    def admits(self, address: IPAddress, port: int) -> bool:
        # An IPv4-mapped answer is the IPv4 address it maps: an entry for one admits the other.
        mapped = getattr(address, "ipv4_mapped", None)
        return any(
            entry.admits(address, port) or (mapped is not None and entry.admits(mapped, port))
            for entry in self.allow
        )


def _entry(text: str) -> Allowed:
    try:
        if text.startswith("["):  # [v6]:port
            address, _, port = text[1:].partition("]:")
            return Allowed(ipaddress.ip_network(address), _port(port))
        if text.count(":") == 1:  # v4:port
            address, _, port = text.partition(":")
            return Allowed(ipaddress.ip_network(address), _port(port))
        return Allowed(ipaddress.ip_network(text))
    except ValueError as exc:
        raise ValueError(
            f"{text!r} is not a network (10.1.0.0/16, ::1) or an address and port "
            f"(127.0.0.1:8099, [::1]:8099): {exc}"
        ) from None


def _port(text: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise ValueError(f"bad port {text!r}")
    return int(text)


def check_url(url: str) -> Target | Refused:
    """The URL's form: http or https, a host, no user name or password (they would be sent to
    whoever answers), a valid port (default by scheme). Pure: no name is resolved here."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        return Refused(f"refused: webhook URL {url!r} is not valid: {exc}")
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        return Refused(f"refused: webhook URL {url!r} is not http or https")
    if not parts.hostname:
        return Refused(f"refused: webhook URL {url!r} has no host")
    if port == 0:
        return Refused(f"refused: webhook URL {url!r} has port 0")
    if parts.username is not None or parts.password is not None:
        return Refused("refused: webhook URL carries a user name or password")
    return Target(url, scheme, parts.hostname, DEFAULT_PORTS[scheme] if port is None else port)


def danger(address: IPAddress) -> str | None:
    """What makes `address` unfit for a webhook ("is in a private network"), or None when it is
    public. Pure."""
    if address in METADATA:
        return "is a cloud metadata address"
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            inner = danger(address.ipv4_mapped)
            return inner and f"maps IPv4 {address.ipv4_mapped}, which {inner}"
        if address in NAT64:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
            inner = danger(embedded)
            return inner and f"reaches IPv4 {embedded} through NAT64, which {inner}"
    if address.is_unspecified:
        return "is the unspecified address"
    if address.is_loopback:
        return "is a loopback address"
    if address.is_link_local:
        return "is link-local"
    if address in CGNAT:
        return "is in the carrier-grade NAT range 100.64.0.0/10"
    if address.is_multicast:
        return "is a multicast address"
    if address.is_reserved:  # before private: Python counts 240.0.0.0/4 as both
        return "is in a reserved range"
    if address.is_private or getattr(address, "is_site_local", False):
        return "is in a private network"
    if not address.is_global:
        return "is not a public address"
    return None


def refusal(address: IPAddress, target: Target, policy: Policy) -> Refused | None:
    """Why the webhook may not connect to `address` for `target`, or None. Pure."""
    problem = danger(address)
    if problem is None or policy.admits(address, target.port):
        return None
    origin = "" if _is_literal(target.host) else f" (from {target.host})"
    return Refused(f"refused: webhook address {address}{origin} {problem}; allow it with {SETTING}")


async def resolve(target: Target, policy: Policy) -> list[IPAddress] | Refused:
    """The addresses `target`'s host resolves to (the event loop's getaddrinfo), in its order
    and without repeats, or the refusal of the first that is not allowed: one bad answer
    refuses the host, since the connection could have gone to it. Raises OSError
    (socket.gaierror) when the name does not resolve."""
    infos = await asyncio.get_running_loop().getaddrinfo(
        target.host, target.port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
    )
    # The scope of a link-local IPv6 answer ("fe80::1%eth0") says nothing about its danger.
    answers = (ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos)
    addresses = list(dict.fromkeys(answers))
    for address in addresses:
        refused = refusal(address, target, policy)
        if refused is not None:
            return refused
    return addresses


def _is_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True
