"""The pure fleetstate domain: decide(state, command) -> events | Rejection, evolve(state, event).

Standard library and msgspec only: no Kafka, Postgres, network, clock or randomness.
"""

from services.domain.decide import decide
from services.domain.evolve import evolve, fold
from services.domain.state import State

__all__ = ["State", "decide", "evolve", "fold"]
