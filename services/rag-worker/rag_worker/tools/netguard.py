"""Outgoing HTTP for tenant-defined URLs: https to public addresses only, capped responses.

`check_url` refuses a bad URL early with a clear reason; `public_only_client` enforces the
same rule where it matters, when the connection is opened: the host is resolved there and
the socket goes to the address that was checked, so a name that resolves to a public
address at check time and to a private one a moment later (DNS rebinding) still cannot
reach the internal network.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import typing
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import httpcore
import httpx

from rag_worker.tools.registry import ToolFailed


class UrlBlocked(ToolFailed):
    """A tenant URL that is not https or resolves to a private, loopback or reserved address."""

    def __init__(self, message: str) -> None:
        super().__init__("url_blocked", message)


@dataclass(frozen=True)
class CappedResponse:
    """A response body cut at the size cap."""

    status: int
    text: str
    truncated: bool
    content_type: str


async def check_url(url: str, allowed_hosts: frozenset[str]) -> httpx.URL:
    """Refuse URLs a tenant must not reach; hosts the operator allows skip every check."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError) as exc:
        raise UrlBlocked("The URL is not valid.") from exc
    host = parsed.host.lower()
    if not host:
        raise UrlBlocked("The URL has no host.")
    if host in allowed_hosts:
        return parsed
    if parsed.scheme != "https":
        raise UrlBlocked("Only https URLs are allowed.")
    for address in await resolve(host, parsed.port or 443):
        if not _public(address):
            raise UrlBlocked("The URL points to a private or reserved address.")
    return parsed


Resolver = Callable[[str, int], Awaitable[list[str]]]


async def resolve(host: str, port: int) -> list[str]:
    """Every address `host` resolves to (the system resolver)."""
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise ToolFailed("host_not_found", "The host of the URL does not resolve.") from exc
    return [str(info[4][0]) for info in infos]


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
            if not addresses or not all(_public(a) for a in addresses):
                raise UrlBlocked("The URL points to a private or reserved address.")
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
        raise UrlBlocked("Unix sockets are not reachable from tools.")

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


def public_only_client(
    allowed_hosts: Iterable[str], *, timeout_s: float = 30.0, resolver: Resolver = resolve
) -> httpx.AsyncClient:
    """The HTTP client for tenant-configured URLs (no proxies from the environment)."""
    backend = PublicOnlyBackend(allowed_hosts, resolver)
    return httpx.AsyncClient(
        transport=_PublicOnlyTransport(backend), timeout=timeout_s, trust_env=False
    )


def _public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


async def fetch_capped(
    http: httpx.AsyncClient,
    method: str,
    url: httpx.URL,
    *,
    max_bytes: int,
    timeout_s: float,
    headers: Mapping[str, str] | None = None,
    params: Mapping[str, Any] | None = None,
    json_body: Any = None,
) -> CappedResponse:
    """Send one request without following redirects; read at most `max_bytes` of the body."""
    body = bytearray()
    truncated = False
    try:
        async with http.stream(
            method,
            url,
            headers=dict(headers or {}),
            params=params,
            json=json_body,
            follow_redirects=False,
            timeout=timeout_s,
        ) as resp:
            async for chunk in resp.aiter_bytes():
                body += chunk
                if len(body) > max_bytes:
                    truncated = True
                    break
            encoding = resp.encoding or "utf-8"
            status, ctype = resp.status_code, resp.headers.get("content-type", "")
    except httpx.TimeoutException as exc:
        raise ToolFailed("timeout", "The service did not answer in time.") from exc
    except httpx.HTTPError as exc:
        raise ToolFailed("http_error", "The service could not be reached.") from exc
    text = bytes(body[:max_bytes]).decode(encoding, errors="replace")
    return CappedResponse(status, text, truncated, ctype)
