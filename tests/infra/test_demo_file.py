"""The demo's SIM cards are drawn at random for each demo file and kept in it with the
credentials: no registration code in the source, the same codes on every later run."""

from __future__ import annotations

import json

from services.demo import instructions, load_or_make_credentials


def test_two_fresh_demo_files_get_different_cards_and_codes(tmp_path):
    one = load_or_make_credentials(tmp_path / "one.json")
    two = load_or_make_credentials(tmp_path / "two.json")
    assert len(one.cards) == len(two.cards) == 4
    assert not {code for _, code in one.cards} & {code for _, code in two.cards}
    assert not {iccid for iccid, _ in one.cards} & {iccid for iccid, _ in two.cards}
    for iccid, code in one.cards:
        assert len(iccid) == 19 and iccid.startswith("89") and len(code) == 10
    kept = json.loads((tmp_path / "one.json").read_text())
    assert [tuple(card) for card in kept["cards"]] == one.cards
    assert load_or_make_credentials(tmp_path / "one.json") == one  # the next run: the same
    printed = instructions(one, "http://127.0.0.1:8080")
    assert all(f"ICCID {i}  registration code {c}" in printed for i, c in one.cards)


def test_a_demo_file_from_before_the_codes_keeps_its_account_and_gets_codes(tmp_path):
    path = tmp_path / "demo.json"
    path.write_text(json.dumps({"account_sid": "AC" + "0" * 32, "auth_token": "f" * 32}))
    demo = load_or_make_credentials(path)
    assert (demo.account_sid, demo.auth_token) == ("AC" + "0" * 32, "f" * 32)
    assert len(demo.cards) == 4
    assert load_or_make_credentials(path) == demo
    assert path.stat().st_mode & 0o077 == 0
