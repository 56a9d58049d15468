"""Rejections with their Twilio codes, and the exception handlers raise to reject."""

from __future__ import annotations

from events.envelope import Rejection
from services.echo import shown


class Rejected(Exception):
    """Raised inside a handler to stop the decision; decide() returns `.rejection`."""

    def __init__(self, rejection: Rejection) -> None:
        super().__init__(rejection.message)
        self.rejection = rejection


def invalid(message: str) -> Rejected:
    return Rejected(Rejection(400, 20001, message))


def not_found(what: str, ref: str) -> Rejected:
    # Another account's resource is indistinguishable from a missing one.
    return Rejected(Rejection(404, 20404, f"The requested {what} {shown(ref)} was not found"))


def duplicate_name(what: str, name: str) -> Rejected:
    message = f"A {what} with unique name {shown(name)} already exists"
    return Rejected(Rejection(409, 20409, message))


def immutable(field: str) -> Rejected:
    return invalid(
        f"{field} cannot be changed after a Fleet is created: "
        f"create a new Fleet with the wanted {field} and reassign its Sims to it"
    )


# Sim registration and update (the 830xx family).
def registration_missing() -> Rejected:
    return Rejected(Rejection(400, 83001, "Both Iccid and RegistrationCode are required"))


def not_registrable() -> Rejected:
    # Deliberately one message for "unknown card", "wrong code" and "another account's":
    # never reveal that a card exists in someone else's account.
    return Rejected(
        Rejection(400, 83002, "The Iccid and RegistrationCode do not match a registrable SIM")
    )


def already_registered(sim_sid: str) -> Rejected:
    return Rejected(
        Rejection(400, 83003, f"This SIM is already registered to this account as {sim_sid}")
    )


def fleet_not_found(ref: str) -> Rejected:
    return Rejected(Rejection(400, 83006, f"The Fleet {shown(ref)} was not found"))


def activation_needs_fleet(status: str) -> Rejected:
    message = f"A Sim must be assigned to a Fleet before its status can be {shown(status)}"
    return Rejected(Rejection(400, 83007, message))


def must_keep_fleet(status: str) -> Rejected:
    return Rejected(Rejection(400, 83008, f"A {shown(status)} Sim must stay assigned to a Fleet"))


def scheduled_fleet_change() -> Rejected:
    return Rejected(
        Rejection(400, 83009, "The Fleet of a Sim cannot change while its status is 'scheduled'")
    )


def transition_not_allowed(from_status: str, to_status: str) -> Rejected:
    return Rejected(
        Rejection(400, 83010, f"A Sim cannot move from {shown(from_status)} to {shown(to_status)}")
    )


def duplicate_sim_name(name: str) -> Rejected:
    return Rejected(Rejection(409, 83011, f"A Sim with unique name {shown(name)} already exists"))
