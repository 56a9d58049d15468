"""The operator catalogue and the SIM-card inventory, fed by partitions this process does not own.

Each processor decides for the accounts of its own partitions, but every account needs the
operator's Networks and SIM cards, and must know which cards another account already registered.
Those facts reach it from other partitions in no particular order relative to its own, so they
are applied monotonically: a Network or card is added once, a registration claim is set once and
never undone, and a claim seen before its card waits for the card. Applying a fact twice, or a
fact this process also applied through `evolve`, changes nothing.
"""

from __future__ import annotations

from msgspec.structs import replace

from events import event_types as ev
from events.envelope import EventEnvelope
from services.domain.state import Network, SimCard, State

# Event types that carry catalogue facts (the processor filters on the record's type header).
CATALOGUE_EVENT_TYPES = frozenset({"NetworkProvisioned", "SimCardProvisioned", "SimRegistered"})


class CatalogueFeed:
    __slots__ = ("_pending_claims",)

    def __init__(self) -> None:
        self._pending_claims: dict[str, tuple[str, str]] = {}  # iccid -> (account, sim)

    def apply(self, state: State, event: EventEnvelope) -> None:
        payload = event.payload
        if isinstance(payload, ev.NetworkProvisioned):
            if event.aggregate_id not in state.networks:
                state.networks[event.aggregate_id] = Network(
                    sid=event.aggregate_id,
                    friendly_name=payload.friendly_name,
                    iso_country=payload.iso_country,
                    identifiers=tuple((i.mcc, i.mnc) for i in payload.identifiers),
                    version=event.aggregate_version,
                )
        elif isinstance(payload, ev.SimCardProvisioned):
            if payload.iccid not in state.sim_cards:
                card = SimCard(
                    iccid=payload.iccid,
                    registration_code_hash=payload.registration_code_hash,
                    version=event.aggregate_version,
                )
                claim = self._pending_claims.pop(payload.iccid, None)
                if claim is not None:
                    card = replace(card, account_sid=claim[0], sim_sid=claim[1])
                state.sim_cards[payload.iccid] = card
        elif isinstance(payload, ev.SimRegistered):
            card = state.sim_cards.get(payload.iccid)
            if card is None:
                self._pending_claims[payload.iccid] = (event.account_sid, event.aggregate_id)
            elif card.account_sid is None:
                state.sim_cards[payload.iccid] = replace(
                    card, account_sid=event.account_sid, sim_sid=event.aggregate_id
                )
