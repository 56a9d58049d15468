"""Auth tokens kept encrypted at rest, so the delivery service can recover one to sign with.

A webhook is signed with the account's auth token itself (Twilio's scheme), so a hash of it,
which is all the API needs, is not enough here. Tokens are sealed with Fernet (AES-128-CBC and
HMAC-SHA256) under keys from FLEETSTATE_TOKEN_KEYS (or FLEETSTATE_TOKEN_KEYS_FILE), newest
first: the newest seals, any of them opens.

Rotating the key:
1. Generate a key (`generate_key()`) and put it first in FLEETSTATE_TOKEN_KEYS, keeping the old
   ones after it; restart. New tokens are sealed with it, old ones still open.
2. Reseal every stored token for which `needs_reseal` is true (`reseal`).
3. Drop the old key from FLEETSTATE_TOKEN_KEYS; restart. A token still sealed with it no longer
   opens (SealError), so step 2 must have finished first.
"""

from __future__ import annotations

from collections.abc import Sequence

from cryptography.fernet import Fernet, InvalidToken, MultiFernet


class SealError(ValueError):
    """A key is not a Fernet key, or no configured key opens a sealed token."""


def generate_key() -> str:
    """A new random key, in the form FLEETSTATE_TOKEN_KEYS takes."""
    return Fernet.generate_key().decode("ascii")


def parse_keys(setting: str) -> list[str]:
    """The keys of a FLEETSTATE_TOKEN_KEYS value (or the file's text): separated by commas or
    line breaks, newest first."""
    return [key.strip() for key in setting.replace("\n", ",").split(",") if key.strip()]


class TokenSeal:
    """Seals with the newest key, opens with any. Never shows its keys (repr, errors)."""

    def __init__(self, fernets: Sequence[Fernet]) -> None:
        self._newest = fernets[0]
        self._all = MultiFernet(list(fernets))

    @classmethod
    def from_keys(cls, keys: Sequence[str]) -> TokenSeal:
        """From url-safe base64 Fernet keys, newest first. Raises SealError naming the bad key's
        place in the list (not the key)."""
        if not keys:
            raise SealError("no token keys: set FLEETSTATE_TOKEN_KEYS (newest key first)")
        fernets = []
        for place, key in enumerate(keys, start=1):
            try:
                fernets.append(Fernet(key))
            except (ValueError, TypeError):
                raise SealError(
                    f"token key {place} of {len(keys)} is not a Fernet key "
                    "(32 url-safe base64-encoded bytes; make one with generate_key())"
                ) from None
        return cls(fernets)

    def seal(self, token: str) -> str:
        return self._all.encrypt(token.encode()).decode("ascii")

    def open(self, sealed: str) -> str:
        """The token `sealed` holds. Raises SealError if no configured key opens it."""
        try:
            return self._all.decrypt(sealed.encode()).decode()
        except InvalidToken:
            raise SealError(_UNOPENED) from None

    def needs_reseal(self, sealed: str) -> bool:
        """Whether `sealed` was sealed with a key other than the newest (raises SealError if no
        configured key opens it)."""
        try:
            self._newest.decrypt(sealed.encode())
        except InvalidToken:
            self.open(sealed)  # SealError if no key opens it at all
            return True
        return False

    def reseal(self, sealed: str) -> str:
        """`sealed`'s token sealed again with the newest key (its original time kept)."""
        try:
            return self._all.rotate(sealed.encode()).decode("ascii")
        except InvalidToken:
            raise SealError(_UNOPENED) from None

    def __repr__(self) -> str:
        return "TokenSeal(<keys hidden>)"


_UNOPENED = (
    "no configured key opens this sealed token: was it sealed with a key since dropped from "
    "FLEETSTATE_TOKEN_KEYS, or is it corrupt?"
)
