"""The one address rule for webhooks (forwarding/addresses.py), table-tested with every form we know.

Python 3.11's `is_global` says yes to multicast, NAT64, 6to4, IPv4-compatible and IPv4-mapped
addresses; each of those rows failed before the rule was written down here.
"""

import ipaddress

import pytest

from linktrack.forwarding.addresses import AddressRefused, AddressUnresolvable, judge, refusal, webhook_addresses

REFUSED = [
    # IPv4
    ("127.0.0.1", "a loopback address"),
    ("127.255.255.254", "a loopback address"),
    ("0.0.0.0", "the unspecified address"),
    ("0.1.2.3", "a private address"),
    ("10.0.0.1", "a private address"),
    ("172.16.0.1", "a private address"),
    ("172.31.255.255", "a private address"),
    ("192.168.1.1", "a private address"),
    ("169.254.169.254", "a link-local address"),  # cloud metadata
    ("100.64.0.1", "a carrier-grade NAT address"),
    ("100.127.255.254", "a carrier-grade NAT address"),
    ("192.0.0.1", "an IETF protocol address"),
    ("192.0.0.9", "an IETF protocol address"),
    ("192.0.2.1", "a private address"),  # documentation
    ("198.18.0.1", "a private address"),  # benchmarking
    ("198.51.100.1", "a private address"),
    ("203.0.113.1", "a private address"),
    ("192.88.99.1", "a 6to4 relay address"),
    ("224.0.0.1", "a multicast address"),
    ("239.255.255.250", "a multicast address"),
    ("240.0.0.1", "a private address"),  # reserved
    ("255.255.255.255", "a private address"),
    # IPv6
    ("::1", "a loopback address"),
    ("::", "the unspecified address"),
    ("fe80::1", "a link-local address"),
    ("fc00::1", "a private address"),
    ("fd12:3456:789a::1", "a private address"),
    ("fec0::1", "a site-local address"),
    ("ff02::1", "a multicast address"),
    ("ff0e::1", "a multicast address"),
    ("2001:db8::1", "a private address"),
    ("100::1", "a private address"),  # discard-only
    ("64:ff9b::7f00:1", "a NAT64 address"),  # 127.0.0.1 through NAT64
    ("64:ff9b::808:808", "a NAT64 address"),  # even a public IPv4 inside: refused outright
    ("64:ff9b:1::a00:1", "a NAT64 address"),
    ("2002:7f00:1::1", "a 6to4 address"),  # 127.0.0.1 inside 6to4
    ("2002:808:808::1", "a 6to4 address"),
    ("2001:0:4136:e378:8000:63bf:3fff:fdd2", "a Teredo address"),
    ("::127.0.0.1", "an IPv4-compatible IPv6 address"),
    ("::10.0.0.1", "an IPv4-compatible IPv6 address"),
    ("::8.8.8.8", "an IPv4-compatible IPv6 address"),
    ("::ffff:127.0.0.1", "an IPv4-mapped IPv6 address"),
    ("::ffff:169.254.169.254", "an IPv4-mapped IPv6 address"),
    ("::ffff:8.8.8.8", "an IPv4-mapped IPv6 address"),
    ("::ffff:0:10.0.0.1", "an IPv4-translated IPv6 address"),
    ("2001:20::1", "an ORCHIDv2 identifier"),
    ("3fff::1", "a documentation address"),
    ("5f00::1", "a segment-routing address"),
]

PUBLIC = ["8.8.8.8", "1.1.1.1", "93.184.216.34", "2606:4700:4700::1111", "2001:4860:4860::8888", "2a00:1450::200e"]


@pytest.mark.parametrize(("address", "what"), REFUSED)
def test_every_non_public_address_is_refused_and_named(address, what):
    assert refusal(ipaddress.ip_address(address)) == what


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_pass(address):
    assert refusal(ipaddress.ip_address(address)) is None


def test_a_name_with_one_private_answer_among_public_ones_is_refused():
    answers = [ipaddress.ip_address(a) for a in ("8.8.8.8", "2606:4700:4700::1111", "10.0.0.7")]
    refused = r"^Refused: hooks\.example resolves to a private address \(10\.0\.0\.7\)\.$"
    with pytest.raises(AddressRefused, match=refused):
        judge("hooks.example", answers)
    judge("hooks.example", answers[:2])  # only public answers: no refusal


# URL spellings the system resolver turns into a non-public address; each is resolved, then judged.
URL_FORMS = [
    ("http://localhost:8080/hook", "localhost resolves to a loopback address (127.0.0.1)"),
    ("http://LOCALHOST/hook", "localhost resolves to a loopback address (127.0.0.1)"),
    ("http://127.1/hook", "127.1 resolves to a loopback address (127.0.0.1)"),
    ("http://2130706433/hook", "2130706433 resolves to a loopback address (127.0.0.1)"),
    ("http://0x7f000001/hook", "0x7f000001 resolves to a loopback address (127.0.0.1)"),
    ("http://0x7f.1/hook", "0x7f.1 resolves to a loopback address (127.0.0.1)"),
    ("http://0177.0.0.1/hook", "0177.0.0.1 resolves to a loopback address (127.0.0.1)"),
    ("http://0/hook", "0 resolves to the unspecified address (0.0.0.0)"),
    ("http://10.1/hook", "10.1 resolves to a private address (10.0.0.1)"),
    ("http://169.254.169.254/latest/meta-data/", "169.254.169.254 is a link-local address"),
    ("https://[::1]:8443/hook", "::1 is a loopback address"),
    ("http://[0:0:0:0:0:0:0:1]/hook", "0:0:0:0:0:0:0:1 is a loopback address"),
    ("http://[::ffff:127.0.0.1]/hook", "::ffff:127.0.0.1 is an IPv4-mapped IPv6 address"),
    ("http://[::ffff:7f00:1]/hook", "::ffff:7f00:1 is an IPv4-mapped IPv6 address"),
    ("http://[::127.0.0.1]/hook", "::127.0.0.1 is an IPv4-compatible IPv6 address"),
    ("http://[64:ff9b::a9fe:a9fe]/hook", "64:ff9b::a9fe:a9fe is a NAT64 address"),
    ("http://[2002:a9fe:a9fe::]/hook", "2002:a9fe:a9fe:: is a 6to4 address"),
    ("http://[fd00::1]/hook", "fd00::1 is a private address"),
]


@pytest.mark.parametrize(("url", "message"), URL_FORMS)
def test_every_url_spelling_of_a_private_address_is_refused(app, url, message):
    app.config["FORWARDING_ALLOW_PRIVATE_ADDRESSES"] = False
    with app.app_context(), pytest.raises(AddressRefused) as refused:
        webhook_addresses(url)
    assert str(refused.value) == f"Refused: {message}."


def test_allowing_private_addresses_still_resolves_once(app):
    """FORWARDING_ALLOW_PRIVATE_ADDRESSES (tests, on-premises) lets loopback through, resolved for pinning."""
    app.config["FORWARDING_ALLOW_PRIVATE_ADDRESSES"] = True
    with app.app_context():
        assert webhook_addresses("http://localhost:8080/hook") == [ipaddress.ip_address("127.0.0.1")]
        with pytest.raises(AddressUnresolvable, match="Cannot find the address of nowhere.invalid"):
            webhook_addresses("https://nowhere.invalid/hook")
