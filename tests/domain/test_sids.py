from events.sids import FLEET, OPERATOR_ACCOUNT_SID, SIM, derive_sid, is_sid


def test_a_derived_sid_is_the_prefix_and_32_lowercase_hex_digits():
    sid = derive_sid(FLEET, "command-1")
    assert sid.startswith("HF") and len(sid) == 34 and is_sid(FLEET, sid)


def test_deriving_twice_from_the_same_command_gives_the_same_sid():
    assert derive_sid(FLEET, "command-1", "AC1") == derive_sid(FLEET, "command-1", "AC1")


def test_the_salt_and_the_prefix_change_the_digits():
    base = derive_sid(FLEET, "command-1", "AC1")
    assert derive_sid(FLEET, "command-1", "AC2") != base
    assert derive_sid(SIM, "command-1", "AC1")[2:] != base[2:]


def test_is_sid_refuses_other_prefixes_upper_case_and_wrong_lengths():
    sid = derive_sid(FLEET, "x")
    assert not is_sid(SIM, sid)
    assert not is_sid(FLEET, sid.upper())
    assert not is_sid(FLEET, sid + "0")
    assert not is_sid(FLEET, sid[:-1])
    assert not is_sid(FLEET, None)


def test_the_operator_account_is_an_account_sid():
    assert is_sid("AC", OPERATOR_ACCOUNT_SID)
