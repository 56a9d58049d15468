"""Auth tokens sealed at rest: opened with any configured key, resealed under the newest, and a
clear error when the key that sealed one is gone."""

from __future__ import annotations

import pytest

from services.delivery.sealing import SealError, TokenSeal, generate_key, parse_keys

TOKEN = "0123456789abcdef0123456789abcdef"


def test_a_sealed_token_opens_and_does_not_show_the_token():
    seal = TokenSeal.from_keys([generate_key()])
    sealed = seal.seal(TOKEN)
    assert TOKEN not in sealed
    assert seal.open(sealed) == TOKEN
    assert seal.seal(TOKEN) != sealed  # a fresh IV each time: equal tokens do not show


def test_rotation_put_a_new_key_first_reseal_then_drop_the_old_one():
    old, new = generate_key(), generate_key()
    sealed_old = TokenSeal.from_keys([old]).seal(TOKEN)

    both = TokenSeal.from_keys([new, old])
    assert both.open(sealed_old) == TOKEN
    assert both.needs_reseal(sealed_old)
    resealed = both.reseal(sealed_old)
    assert not both.needs_reseal(resealed)
    assert not both.needs_reseal(both.seal(TOKEN))

    only_new = TokenSeal.from_keys([new])
    assert only_new.open(resealed) == TOKEN
    with pytest.raises(SealError, match="no configured key opens"):
        only_new.open(sealed_old)
    with pytest.raises(SealError, match="no configured key opens"):
        only_new.needs_reseal(sealed_old)
    with pytest.raises(SealError, match="no configured key opens"):
        only_new.reseal(sealed_old)


def test_corrupt_sealed_text_is_a_seal_error():
    seal = TokenSeal.from_keys([generate_key()])
    with pytest.raises(SealError, match="no configured key opens"):
        seal.open("not a sealed token")


def test_bad_keys_are_refused_without_being_shown():
    good = generate_key()
    with pytest.raises(SealError, match="no token keys"):
        TokenSeal.from_keys([])
    with pytest.raises(SealError, match="token key 2 of 2 is not a Fernet key") as refused:
        TokenSeal.from_keys([good, "secret-but-not-a-key"])
    assert "secret-but-not-a-key" not in str(refused.value)
    assert good not in repr(TokenSeal.from_keys([good]))


def test_keys_are_read_from_commas_or_lines():
    assert parse_keys("") == []
    assert parse_keys(" a, b ,,c ") == ["a", "b", "c"]
    assert parse_keys("a\nb\n") == ["a", "b"]
