"""Outgoing HTTP to URLs a tenant, a provider or a model controls: one guarded client for all.

`check_url` refuses a bad URL early with a clear reason; `public_only_client` enforces the
rule where it matters, when the connection is opened: the host is resolved there and the
socket goes to the address that was checked, so a name that resolves to a public address at
check time and to a private one a moment later (DNS rebinding) cannot reach the internal
network. `read_capped` streams a body and stops at a size cap, so nothing is buffered whole.

Hosts the operator names (TOOL_ALLOWED_HOSTS; tests name their loopback fakes there) skip the
checks: that allow-list is the only way in for a private address.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import typing
from collections.abc import Awaitable, Callable, Iterable
from urllib.parse import quote

import httpcore
import httpx

# IPv6 ranges that carry an IPv4 address in their low 32 bits (NAT64, well-known and local
# use) or in bits 16..48 (6to4): the IPv4 inside decides whether the address is public
_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
_SIX_TO_FOUR = ipaddress.ip_network("2002::/16")


class AddressBlocked(Exception):
    """A URL that is not allowed: wrong scheme, no host, or a private/reserved address."""


class HostNotFound(Exception):
    """The URL's host does not resolve."""


Resolver = Callable[[str, int], Awaitable[list[str]]]


async def resolve(host: str, port: int) -> list[str]:
    """Every address `host` resolves to (the system resolver)."""
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise HostNotFound(f"{host} does not resolve") from exc
    return [str(info[4][0]) for info in infos]


def is_public(address: str) -> bool:
    """A globally routable unicast address, looking through IPv6 forms that embed an IPv4 one."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(ip)
        if embedded is not None:
            ip = embedded
    return bool(ip.is_global) and not ip.is_multicast


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if ip.ipv4_mapped is not None:  # ::ffff:a.b.c.d
        return ip.ipv4_mapped
    value = int(ip)
    if value >> 32 == 0:  # ::a.b.c.d (IPv4-compatible, deprecated but still routed by some)
        return ipaddress.IPv4Address(value & 0xFFFFFFFF)
    if any(ip in net for net in _NAT64):
        return ipaddress.IPv4Address(value & 0xFFFFFFFF)
    if ip in _SIX_TO_FOUR:
        return ipaddress.IPv4Address((value >> 80) & 0xFFFFFFFF)
    if ip.teredo is not None:  # 2001::/32: the client's IPv4 is what would be reached
        return ip.teredo[1]
    return None


async def check_url(
    url: str,
    allowed_hosts: Iterable[str],
    *,
    schemes: tuple[str, ...] = ("https",),
    resolver: Resolver = resolve,
) -> httpx.URL:
    """The parsed URL, or AddressBlocked/HostNotFound with the reason."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError) as exc:
        raise AddressBlocked("the URL is not valid") from exc
    host = parsed.host.lower()
    if not host:
        raise AddressBlocked("the URL has no host")
    if host in {h.lower() for h in allowed_hosts}:
        return parsed
    if parsed.scheme not in schemes:
        raise AddressBlocked(f"only {' or '.join(schemes)} URLs are allowed")
    if parsed.userinfo:
        raise AddressBlocked("URLs with credentials are not allowed")
    for address in await resolver(host, parsed.port or (443 if parsed.scheme == "https" else 80)):
        if not is_public(address):
            raise AddressBlocked("the URL points to a private or reserved address")
    return parsed


class PublicOnlyBackend(httpcore.AsyncNetworkBackend):
    """Opens TCP connections only to public addresses, except to hosts the operator allows."""

    def __init__(self, allowed_hosts: Iterable[str], resolver: Resolver = resolve) -> None:
        self._allowed = frozenset(h.lower() for h in allowed_hosts)
        self._resolve = resolver
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's backend interface)
        local_address: str | None = None,
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        target = host
        if host.lower() not in self._allowed:
            addresses = await self._resolve(host, port)
            if not addresses or not all(is_public(a) for a in addresses):
                raise AddressBlocked("the URL points to a private or reserved address")
            target = addresses[0]  # connect to what was checked, not to a second lookup
        return await self._inner.connect_tcp(
            target, port, timeout, local_address=local_address, socket_options=socket_options
        )

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's backend interface)
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise AddressBlocked("unix sockets are not reachable")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class _PublicOnlyTransport(httpx.AsyncHTTPTransport):
    def __init__(self, backend: PublicOnlyBackend) -> None:
        super().__init__(trust_env=False)
        # httpx builds its pool with the default network backend; the same pool, but ours
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(),
            max_connections=100,
            max_keepalive_connections=20,
            keepalive_expiry=5.0,
            network_backend=backend,
        )


def public_only_transport(
    allowed_hosts: Iterable[str], *, resolver: Resolver = resolve
) -> httpx.AsyncHTTPTransport:
    """The guarded transport alone, for a client built elsewhere (an SDK's)."""
    return _PublicOnlyTransport(PublicOnlyBackend(allowed_hosts, resolver))


def public_only_client(
    allowed_hosts: Iterable[str], *, timeout_s: float = 30.0, resolver: Resolver = resolve
) -> httpx.AsyncClient:
    """The HTTP client for URLs someone else controls (no redirects, no environment proxies)."""
    return httpx.AsyncClient(
        transport=public_only_transport(allowed_hosts, resolver=resolver),
        timeout=timeout_s,
        trust_env=False,
        follow_redirects=False,
    )


class BodyTooLarge(Exception):
    """A body over the cap (the declared length or the bytes read)."""


async def read_capped(
    resp: httpx.Response, max_bytes: int, *, truncate: bool
) -> tuple[bytes, bool]:
    """(body, truncated) of a streamed response, never holding more than `max_bytes` + a chunk.

    With `truncate` the body is cut at the cap; without it BodyTooLarge is raised.
    """
    declared = resp.headers.get("content-length", "")
    if not truncate and declared.isdigit() and int(declared) > max_bytes:
        raise BodyTooLarge(f"declared {declared} bytes, cap {max_bytes}")
    body = bytearray()
    async for chunk in resp.aiter_bytes():
        body += chunk
        if len(body) > max_bytes:
            if not truncate:
                raise BodyTooLarge(f"more than {max_bytes} bytes")
            return bytes(body[:max_bytes]), True
    return bytes(body), False


class UnsafePathSegment(ValueError):
    """A value that would change the path it is put in ("." or "..")."""


def path_segment(value: object) -> str:
    """`value` as exactly one URL path segment: "/" and the rest encoded, dot segments refused.

    Percent-encoding keeps "/" from splitting the segment, but "." and ".." are resolved by
    URL normalisation (ours and the server's) and walk the path: /v1/customers/../orders is
    /v1/orders, reached with the tenant's credentials.
    """
    text = str(value)
    if text.strip() in (".", ".."):
        raise UnsafePathSegment(f"{text!r} is not allowed as a path segment")
    return quote(text, safe="")
