"""The SSRF guard: a webhook URL's form, then every address its host resolves to. Refusals say
which address, from which name, why, and which setting would allow it."""

from __future__ import annotations

import ipaddress

import pytest

from services.delivery.target import Policy, Refused, Target, check_url, danger, resolve

NONE = Policy()


async def checked(url: str, policy: Policy = NONE):
    target = check_url(url)
    assert isinstance(target, Target), target
    return await resolve(target, policy)


@pytest.mark.parametrize(
    "url, address, why",
    [
        ("http://10.0.0.1/hook", "10.0.0.1", "is in a private network"),
        ("http://192.168.1.1/hook", "192.168.1.1", "is in a private network"),
        ("http://169.254.169.254/latest/meta-data/", "169.254.169.254", "cloud metadata"),
        ("http://[fd00:ec2::254]/", "fd00:ec2::254", "cloud metadata"),
        ("http://100.100.100.200/", "100.100.100.200", "cloud metadata"),
        ("http://[::1]:8080/hook", "::1", "is a loopback address"),
        ("http://127.0.0.1/", "127.0.0.1", "is a loopback address"),
        ("http://0.0.0.0/", "0.0.0.0", "is the unspecified address"),
        ("http://169.254.1.1/", "169.254.1.1", "is link-local"),
        ("http://[fe80::1]/", "fe80::1", "is link-local"),
        ("http://[fc00::1]/", "fc00::1", "is in a private network"),
        ("http://100.64.0.1/", "100.64.0.1", "carrier-grade NAT"),
        ("http://224.0.0.1/", "224.0.0.1", "is a multicast address"),
        ("http://240.0.0.1/", "240.0.0.1", "reserved"),
        ("http://[::ffff:10.0.0.1]/", "::ffff:a00:1", "maps IPv4 10.0.0.1, which is in a private"),
        ("http://[::ffff:169.254.169.254]/", "::ffff:a9fe:a9fe", "cloud metadata"),
        ("http://[64:ff9b::a00:1]/", "64:ff9b::a00:1", "NAT64, which is in a private network"),
        ("http://2130706433/", "127.0.0.1 (from 2130706433)", "is a loopback address"),
    ],
)
async def test_internal_addresses_are_refused_with_the_reason(url, address, why):
    refused = await checked(url)
    assert isinstance(refused, Refused), refused
    assert refused.reason.startswith(f"refused: webhook address {address} "), refused.reason
    assert why in refused.reason
    assert refused.reason.endswith("allow it with FLEETSTATE_WEBHOOK_ALLOW")


async def test_a_name_that_resolves_to_loopback_is_refused_naming_both():
    refused = await checked("http://localhost:8080/hook")
    assert isinstance(refused, Refused)
    assert "(from localhost) is a loopback address" in refused.reason, refused.reason


async def test_allow_listed_addresses_resolve():
    policy = Policy.parse("10.0.0.0/8, 192.168.1.1, ::1, 127.0.0.0/8")
    assert await checked("http://10.0.0.1/hook", policy) == [ipaddress.ip_address("10.0.0.1")]
    assert await checked("http://192.168.1.1/", policy) == [ipaddress.ip_address("192.168.1.1")]
    assert await checked("http://[::1]/", policy) == [ipaddress.ip_address("::1")]
    assert ipaddress.ip_address("127.0.0.1") in await checked("http://localhost/", policy)
    # An entry for an IPv4 address admits it IPv4-mapped too.
    assert await checked("http://[::ffff:10.0.0.1]/", policy) == [
        ipaddress.ip_address("::ffff:10.0.0.1")
    ]


async def test_an_address_and_port_entry_allows_that_port_alone():
    policy = Policy.parse("127.0.0.1:8099,[::1]:8099")
    assert await checked("http://127.0.0.1:8099/", policy) == [ipaddress.ip_address("127.0.0.1")]
    assert await checked("http://[::1]:8099/", policy) == [ipaddress.ip_address("::1")]
    assert isinstance(await checked("http://127.0.0.1:8098/", policy), Refused)
    assert isinstance(await checked("http://127.0.0.1/", policy), Refused)  # port 80


async def test_a_metadata_address_is_allowed_only_by_name():
    wide = Policy.parse("169.254.0.0/16,fd00::/8,100.64.0.0/10")
    assert await checked("http://169.254.1.1/", wide) == [ipaddress.ip_address("169.254.1.1")]
    for url in ("http://169.254.169.254/", "http://[fd00:ec2::254]/", "http://100.100.100.200/"):
        refused = await checked(url, wide)
        assert isinstance(refused, Refused) and "cloud metadata" in refused.reason
    named = Policy.parse("169.254.169.254")
    assert await checked("http://169.254.169.254/", named) == [
        ipaddress.ip_address("169.254.169.254")
    ]


def test_public_addresses_are_fine():
    for address in ("8.8.8.8", "2606:4700:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808"):
        assert danger(ipaddress.ip_address(address)) is None, address


@pytest.mark.parametrize(
    "url, why",
    [
        ("ftp://example.com/hook", "is not http or https"),
        ("file:///etc/passwd", "is not http or https"),
        ("example.com/hook", "is not http or https"),
        ("http:///hook", "has no host"),
        ("https://user:secret@example.com/", "user name or password"),
        ("https://example.com:99999/", "is not valid"),
        ("https://example.com:0/", "port 0"),
        ("http://[::1/", "is not valid"),
    ],
)
def test_urls_of_the_wrong_form_are_refused(url, why):
    refused = check_url(url)
    assert isinstance(refused, Refused) and why in refused.reason, refused
    assert "secret" not in refused.reason


def test_ports_default_by_scheme_and_hosts_lose_case_and_brackets():
    assert check_url("https://Hooks.Example.COM/a?b=c") == Target(
        "https://Hooks.Example.COM/a?b=c", "https", "hooks.example.com", 443
    )
    assert check_url("HTTP://example.com/") == Target(
        "HTTP://example.com/", "http", "example.com", 80
    )
    assert check_url("http://[::1]:8080/").host == "::1"


@pytest.mark.parametrize(
    "setting", ["10.0.0.0/33", "localhost", "127.0.0.1:http", "127.0.0.1:0", "[::1]", "10.0.0.1/8"]
)
def test_a_bad_allow_entry_is_refused_naming_it(setting):
    with pytest.raises(ValueError, match="is not a network"):
        Policy.parse(setting)


def test_an_empty_allow_list_allows_nothing():
    assert Policy.parse("") == Policy.parse(" , ") == Policy()
