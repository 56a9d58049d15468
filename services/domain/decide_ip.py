"""The address registry: commands about the addresses of a pool, decided by their one writer.

Every address command is keyed by the pool's registry block (events.ip_pools.registry_key), so
all the requests for the addresses of a pool, and of every pool overlapping it, from every
account, are decided by one partition, in order: an address is allocated to one Sim, and to
another only after the first gave it back. The accounts' partitions ask (AllocateIpAddress
when a Sim becomes active, ReleaseIpAddress when it stops) and record the answers on the Sim
(RecordSimIpAddress, RecordSimIpAddressUnavailable); services/domain/follow_ups.py sends them.

Decisions:
- The lowest free address of the pool (not its network or broadcast address), so released
  addresses are used again first.
- An address is held for one activation of a Sim (its request, the command that made the Sim
  active), and a Sim holds one address of a registry at most: asked again for the same
  activation (a step repeated), the registry answers with the same address; asked for a newer
  activation while it still holds one for an earlier (deactivated and activated again before
  the earlier answer came back), the address moves to the newer activation. A later change of
  the setting moves nothing. Every answer and every release names the activation, so an
  answer to an earlier activation is stale: the account does not take it and gives it back,
  and that release frees nothing the Sim holds for a newer one.
- A pool with no free address refuses (409 20409, saying so); the Sim's account records that
  on the Sim (SimIpAddressUnavailable) and the Sim stays active without an address.
- An address comes to an account whose Sim is no longer active, or holds another: nothing is
  recorded, and follow_ups gives it back.
"""

from __future__ import annotations

from events.commands import (
    AllocateIpAddress,
    RecordSimIpAddress,
    RecordSimIpAddressUnavailable,
    ReleaseIpAddress,
)
from events.envelope import Rejection
from events.event_types import (
    IpAddressAllocated,
    IpAddressReleased,
    SimIpAddressAssigned,
    SimIpAddressReleased,
    SimIpAddressUnavailable,
)
from events.ip_pools import PoolError, address_text, host_range, parse_pool
from services.domain.emit import Emitter
from services.domain.rejections import Rejected, invalid
from services.domain.state import Account, CardHolder, IpClaim, Sim, State

AGGREGATE = "IpAddress"
SIM_AGGREGATE = "Sim"
ACTIVE = "active"
DEACTIVATED = "the Sim stopped being active"


def allocate_ip_address(
    state: State, account: Account, cmd: AllocateIpAddress, out: Emitter
) -> None:
    """Expects: a pool with a free address, or the Sim holding one already (a no-op)."""
    try:
        pool = parse_pool(cmd.pool)
    except PoolError as exc:
        raise invalid(f"Pool: {exc}") from None
    holder = IpClaim(out.command.account_sid, cmd.sim, cmd.request_id)
    held = state.ip_holders.get(CardHolder(holder.account_sid, cmd.sim))
    if held is not None:
        lease = state.ip_addresses[held]
        if lease.holder == holder:
            return  # asked again: the answer follows again
        # Held for an earlier activation, which the account has left behind (it asks again
        # only after the Sim stopped being active): the address serves the newer one.
        moved = IpAddressAllocated(sim_sid=cmd.sim, pool=lease.pool, request_id=cmd.request_id)
        out.emit(AGGREGATE, held, lease.version, moved)
        return
    free = state.ip_free.lowest(*host_range(pool))
    if free is None:
        raise Rejected(Rejection(409, 20409, f"the pool {pool} has no free address"))
    address = address_text(free)
    lease = state.ip_addresses.get(address)
    allocated = IpAddressAllocated(sim_sid=cmd.sim, pool=pool, request_id=cmd.request_id)
    out.emit(AGGREGATE, address, 0 if lease is None else lease.version, allocated)


def release_ip_address(state: State, account: Account, cmd: ReleaseIpAddress, out: Emitter) -> None:
    """Expects: the address held by this Sim; anything else has nothing to release."""
    lease = state.ip_addresses.get(cmd.address)
    holder = IpClaim(out.command.account_sid, cmd.sim, cmd.request_id)
    if lease is not None and lease.holder == holder:
        released = IpAddressReleased(
            sim_sid=cmd.sim, request_id=cmd.request_id, reason=cmd.reason[:500]
        )
        out.emit(AGGREGATE, cmd.address, lease.version, released)


def record_sim_ip_address(
    state: State, account: Account, cmd: RecordSimIpAddress, out: Emitter
) -> None:
    """The registry allocated the address: the Sim takes it if it is still active by the
    activation it was asked for, without an address (once)."""
    sim = account.sims.get(cmd.sim)
    if not _waiting(sim, cmd.request_id):
        return  # recorded already, or not the Sim's to keep: follow_ups gives it back
    assigned = SimIpAddressAssigned(
        ip_address=cmd.address,
        ip_address_version="IPv4",
        pool=cmd.pool,
        request_id=cmd.request_id,
    )
    out.emit(SIM_AGGREGATE, sim.sid, sim.version, assigned)


def record_sim_ip_address_unavailable(
    state: State, account: Account, cmd: RecordSimIpAddressUnavailable, out: Emitter
) -> None:
    """The pool had no free address: said on the Sim, if it is still active without one."""
    sim = account.sims.get(cmd.sim)
    if _waiting(sim, cmd.request_id):
        unavailable = SimIpAddressUnavailable(
            pool=cmd.pool, request_id=cmd.request_id, reason=cmd.reason[:500]
        )
        out.emit(SIM_AGGREGATE, sim.sid, sim.version, unavailable)


def _waiting(sim: Sim | None, request_id: str) -> bool:
    """True if `sim` is active by `request_id` and has no address yet."""
    return (
        sim is not None
        and sim.status == ACTIVE
        and sim.activated_by == request_id
        and sim.ip_address is None
    )


def release_on_leaving_active(sim: Sim, to_status: str, out: Emitter) -> None:
    """A Sim that stops being active gives its address back, in the same decision."""
    if sim.status == ACTIVE and to_status != ACTIVE and sim.ip_address is not None:
        released = SimIpAddressReleased(
            ip_address=sim.ip_address,
            pool=sim.ip_pool or "",
            request_id=sim.ip_request or "",
            reason=DEACTIVATED,
        )
        out.emit(SIM_AGGREGATE, sim.sid, sim.version, released)


# Keyed by registry block: decided whatever account asks, without that account's state.
IP_REGISTRY_HANDLERS = {
    AllocateIpAddress: allocate_ip_address,
    ReleaseIpAddress: release_ip_address,
}
IP_SIM_HANDLERS = {
    RecordSimIpAddress: record_sim_ip_address,
    RecordSimIpAddressUnavailable: record_sim_ip_address_unavailable,
}
