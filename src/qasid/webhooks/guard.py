"""Where webhooks may go: public addresses only, unless the operator allows a network.

A customer chooses the URL, so a gateway that called any URL would let customers reach what only the
gateway can: its own loopback services, the private network it sits in, the cloud's metadata service
(169.254.169.254). So every connection a webhook makes is checked here, **after** DNS resolution and
for every hop of a redirect: the name is resolved once, every address it gave is checked, and the
connection goes to a checked address (so a name cannot resolve to a public address for the check
and to a private one for the connection). An address passes if it is globally routable
(``ipaddress``'s ``is_global``: not loopback, private, link-local, carrier-grade NAT, multicast,
reserved or documentation space, nor an IPv4 address mapped into IPv6 that is one of those), or if
it lies in a network of ``QASID_WEBHOOK_ALLOWED_NETWORKS``.

The checks sit in the HTTP client's connector (aiohttp): its resolver refuses a name that resolves
to any address not allowed, and its socket factory refuses to open a socket to one (which covers
addresses written in the URL); so they hold for whatever connects: each try, each redirect, each new
keep-alive connection. TLS is verified against the host name, as usual.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable, Sequence
from urllib.parse import urlsplit

import anyio
from aiohappyeyeballs import AddrInfoType
from aiohttp.abc import AbstractResolver, ResolveResult

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class AddressNotAllowed(OSError):
    """The host is, or resolves to, an address webhooks may not reach."""


def networks(allowed: Iterable[str]) -> tuple[Network, ...]:
    """``"127.0.0.0/8,10.1.0.0/16"`` as networks; a bad entry raises ValueError."""
    return tuple(ipaddress.ip_network(item.strip(), strict=False) for item in allowed if item.strip())


class AddressPolicy:
    def __init__(self, allowed: Sequence[Network] = ()) -> None:
        self.allowed = tuple(allowed)

    @classmethod
    def of(cls, allowed_networks: str) -> AddressPolicy:
        """From ``QASID_WEBHOOK_ALLOWED_NETWORKS`` (comma separated); a bad network raises ValueError."""
        return cls(networks(allowed_networks.split(",")))

    def refusal(self, address: str) -> str | None:
        """Why webhooks may not reach ``address`` (an IP), or None when they may."""
        ip: Address = ipaddress.ip_address(address.split("%", 1)[0])  # drop an IPv6 zone
        if any(ip in network for network in self.allowed):
            return None
        mapped = ip.ipv4_mapped if isinstance(ip, ipaddress.IPv6Address) else None
        checked = mapped or ip
        if checked.is_global and not checked.is_multicast:
            return None
        return f"{address} is {_kind(checked)}, which webhooks may not reach"

    def check_url(self, url: str) -> str | None:
        """What is wrong with ``url`` as a webhook target, before any DNS lookup: not http(s), no
        host, or a literal address (or ``localhost``) that is not allowed."""
        try:
            parts = urlsplit(url)
            parts.port  # noqa: B018 - raises ValueError for a bad port
        except ValueError as exc:
            return f"not a valid URL: {exc}"
        if parts.scheme not in ("http", "https") or not parts.hostname:
            return "must be an http:// or https:// URL with a host"
        if parts.username or parts.password:
            return "must not carry a user name or password"
        host = parts.hostname
        if host == "localhost" or host.endswith(".localhost"):
            return self.refusal("127.0.0.1")
        try:
            ipaddress.ip_address(host)
        except ValueError:
            return None  # a name: checked when it is resolved, at every try
        return self.refusal(host)


def _kind(ip: Address) -> str:
    for name, test in (
        ("an unspecified address", ip.is_unspecified),
        ("a loopback address", ip.is_loopback),
        ("a link-local address (cloud metadata lives there)", ip.is_link_local),
        ("a multicast address", ip.is_multicast),
        ("a private address", ip.is_private),
        ("a reserved address", ip.is_reserved),
    ):
        if test:
            return name
    return "not a public address"


class GuardedResolver(AbstractResolver):
    """aiohttp's resolver for webhooks: a name resolves only if every address it gives passes."""

    def __init__(self, policy: AddressPolicy) -> None:
        self.policy = policy

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        try:
            found = await anyio.getaddrinfo(host, port, family=family, type=socket.SOCK_STREAM)
        except OSError as exc:
            raise OSError(f"cannot resolve {host}: {exc}") from exc
        results: list[ResolveResult] = []
        for family_found, _, proto, _, address in found:
            ip = str(address[0])
            if why := self.policy.refusal(ip):
                raise AddressNotAllowed(f"refused: {host} resolves to {ip}; {why}")
            results.append(
                ResolveResult(hostname=host, host=ip, port=int(address[1]), family=family_found, proto=proto,
                              flags=socket.AI_NUMERICHOST)
            )  # fmt: skip
        if not results:
            raise OSError(f"{host} resolves to no address")
        return results

    async def close(self) -> None:
        return None


def guarded_socket(policy: AddressPolicy) -> Callable[[AddrInfoType], socket.socket]:
    """aiohttp's socket factory for webhooks: the last check, on the address about to be connected to
    (an address written in the URL never meets the resolver)."""

    def make(info: AddrInfoType) -> socket.socket:
        family, kind, proto, _, address = info
        if why := policy.refusal(str(address[0])):
            raise AddressNotAllowed(f"refused: {why}")
        return socket.socket(family, kind, proto)

    return make
