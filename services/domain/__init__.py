"""The pure fleetstate domain: decide(state, command) -> events | Rejection, evolve(state, event).

Standard library and msgspec only: no Kafka, Postgres, network, clock or randomness.
"""

from services.domain.decide import NO_LIMITS, Limits, decide
from services.domain.evolve import aggregate_version, evolve, fold
from services.domain.state import State

__all__ = ["NO_LIMITS", "Limits", "State", "aggregate_version", "decide", "evolve", "fold"]
