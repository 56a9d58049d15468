"""Our X-Twilio-Signature is the one Twilio's own validator expects (the receiving side, over
real HTTP, is in test_sender.py)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from twilio.request_validator import RequestValidator

from services.delivery.signature import signature

TOKEN = "12345678901234567890123456789012"
URL = "https://hooks.example.com/fleet?client=7"
PARAMS = {"SimSid": "HS" + "0" * 32, "Status": "active", "AccountSid": "AC" + "1" * 32}


def test_post_is_signed_over_the_url_and_the_sorted_params():
    sig = signature(TOKEN, URL, PARAMS)
    assert RequestValidator(TOKEN).validate(URL, PARAMS, sig)
    assert not RequestValidator("another token").validate(URL, PARAMS, sig)
    assert not RequestValidator(TOKEN).validate(URL, {**PARAMS, "Status": "x"}, sig)


def test_get_is_signed_over_the_url_alone():
    url = URL + "&SimSid=HS00&Status=active"
    sig = signature(TOKEN, url, None)
    assert sig == signature(TOKEN, url, {})
    assert RequestValidator(TOKEN).validate(url, {}, sig)
    assert not RequestValidator("another token").validate(url, {}, sig)


@given(
    token=st.text(min_size=1),
    path=st.text(alphabet="abcxyz/-_.~%20", max_size=30),
    params=st.dictionaries(st.text(max_size=20), st.text(max_size=40), max_size=8),
)
def test_any_params_validate(token, path, params):
    url = "https://example.com/" + path
    assert RequestValidator(token).validate(url, params, signature(token, url, params))
