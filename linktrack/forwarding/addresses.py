"""Which addresses a creator's webhook may reach: the one rule, used when a URL is saved and when it is sent.

A webhook must not reach linktrack's own network (Redis, the database, cloud metadata) nor any
other non-public one. Python's `is_global` alone is not enough: on Python 3.11 it counts
multicast, NAT64 (`64:ff9b::/96`), 6to4 (`2002::/16`), IPv4-compatible (`::a.b.c.d`) and
IPv4-mapped (`::ffff:a.b.c.d`) addresses as global, and those forms can carry 127.0.0.1 or
10.0.0.1 inside. Every IPv6 form that embeds or tunnels an IPv4 address is refused outright
rather than judged by the address inside: a real webhook receiver publishes its plain address.
One consequence: an IPv6-only host behind DNS64 cannot reach an IPv4-only receiver.
"""

import ipaddress
import socket
from urllib.parse import urlsplit

from flask import current_app

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Ranges refused even when the running Python calls them global, each with what it is.
REFUSED_NETWORKS = {
    ipaddress.ip_network(network): what
    for network, what in (
        ("::/96", "an IPv4-compatible IPv6 address"),
        ("::ffff:0:0/96", "an IPv4-mapped IPv6 address"),
        ("::ffff:0:0:0/96", "an IPv4-translated IPv6 address"),
        ("64:ff9b::/96", "a NAT64 address"),
        ("64:ff9b:1::/48", "a NAT64 address"),
        ("2002::/16", "a 6to4 address"),
        ("2001::/32", "a Teredo address"),
        ("2001:20::/28", "an ORCHIDv2 identifier"),
        ("3fff::/20", "a documentation address"),
        ("5f00::/16", "a segment-routing address"),
        ("fec0::/10", "a site-local address"),
        ("192.88.99.0/24", "a 6to4 relay address"),
        ("100.64.0.0/10", "a carrier-grade NAT address"),
        ("192.0.0.0/24", "an IETF protocol address"),
    )
}


class AddressRefused(Exception):
    """The URL's host is, or resolves to, an address a webhook may not reach; the message says which."""


class AddressUnresolvable(Exception):
    """The host has no address now (a typo, or DNS away): worth trying again later."""


def refusal(address: IPAddress) -> str | None:
    """What kind of non-public address this is ("a private address"), or None for a public one."""
    if address.is_unspecified:
        return "the unspecified address"
    if address.is_loopback:
        return "a loopback address"
    for network, what in REFUSED_NETWORKS.items():
        if address.version == network.version and address in network:
            return what
    if address.is_multicast:
        return "a multicast address"
    if address.is_link_local:
        return "a link-local address"
    if not address.is_global:
        return "a private address"
    return None


def resolve(hostname: str, port: int) -> list[IPAddress]:
    """Every address the system resolver gives for the host (an IP literal answers itself), in its order.

    This is the only name lookup forwarding makes for a webhook: the request then goes to one of these
    addresses, so a DNS answer that changes after the check (rebinding) is never used.
    """
    try:
        answers = socket.getaddrinfo(hostname, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError) as exc:
        raise AddressUnresolvable(f"Cannot find the address of {hostname}.") from exc
    addresses = []
    for family, *_, sockaddr in answers:
        if family in (socket.AF_INET, socket.AF_INET6):
            address = ipaddress.ip_address(sockaddr[0])
            if address not in addresses:
                addresses.append(address)
    if not addresses:
        raise AddressUnresolvable(f"Cannot find the address of {hostname}.")
    return addresses


def checked_addresses(hostname: str, port: int, *, allow_private: bool) -> list[IPAddress]:
    """The host's addresses, resolved once; AddressRefused if any one of them is not public.

    `allow_private` (FORWARDING_ALLOW_PRIVATE_ADDRESSES) skips the judging for tests and on-premises
    receivers; the addresses are still resolved once and pinned.
    """
    addresses = resolve(hostname, port)
    if not allow_private:
        judge(hostname, addresses)
    return addresses


def judge(hostname: str, addresses: list[IPAddress]) -> None:
    """AddressRefused naming the first non-public address: every answer is judged, not only the first,
    so a name that also resolves to a private address cannot be used to reach it."""
    for address in addresses:
        if what := refusal(address):
            if _spells(hostname, address):
                raise AddressRefused(f"Refused: {hostname} is {what}.")
            raise AddressRefused(f"Refused: {hostname} resolves to {what} ({address}).")


def webhook_addresses(url: str) -> list[IPAddress]:
    """The checked addresses of a webhook URL's host, under FORWARDING_ALLOW_PRIVATE_ADDRESSES:
    the same judgement when the creator saves the URL and before each try."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return checked_addresses(
        parts.hostname or "", port, allow_private=current_app.config["FORWARDING_ALLOW_PRIVATE_ADDRESSES"]
    )


def _spells(hostname: str, address: IPAddress) -> bool:
    """The hostname is this address written out (then "is", not "resolves to", is the right word)."""
    try:
        return ipaddress.ip_address(hostname) == address
    except ValueError:
        return False
