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

The check sits in the HTTP client's network backend (httpcore), so it covers whatever connects:
each try, each redirect, each new keep-alive connection. TLS is verified against the host name, as
usual.
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
from collections.abc import Iterable, Sequence
from typing import Any
from urllib.parse import urlsplit

import anyio
import httpcore
import httpx

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class AddressNotAllowed(httpcore.ConnectError):
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


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network backend, resolving and checking every host before it connects."""

    def __init__(self, policy: AddressPolicy) -> None:
        self.policy = policy
        self.inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface names it so
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        address = await self._resolve(host, port, limit=timeout)
        return await self.inner.connect_tcp(
            address, port, timeout=timeout, local_address=local_address, socket_options=socket_options
        )

    async def _resolve(self, host: str, port: int, *, limit: float | None) -> str:
        """One checked address for ``host``; every address it resolves to must pass."""
        try:
            with anyio.fail_after(limit):
                found = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (OSError, TimeoutError) as exc:
            raise httpcore.ConnectError(f"cannot resolve {host}: {exc}") from exc
        addresses = list(dict.fromkeys(str(info[4][0]) for info in found))
        for address in addresses:
            if why := self.policy.refusal(address):
                via = "" if host == address else f"{host} resolves to {address}; "
                raise AddressNotAllowed(f"refused: {via}{why}")
        if not addresses:
            raise httpcore.ConnectError(f"{host} resolves to no address")
        return addresses[0]

    async def connect_unix_socket(self, *args: Any, **kwargs: Any) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("webhooks do not connect to Unix sockets")

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


class GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx's transport with the checked network backend: no proxies from the environment, TLS
    verified against ``ssl_context``."""

    def __init__(self, policy: AddressPolicy, ssl_context: ssl.SSLContext, limits: httpx.Limits) -> None:
        super().__init__(verify=ssl_context, trust_env=False, limits=limits)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=ssl_context,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=GuardedBackend(policy),
        )
