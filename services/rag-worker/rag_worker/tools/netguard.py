"""Outgoing HTTP for tenant-defined URLs: https to public addresses only, capped responses."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

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
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(
            host, parsed.port or 443, type=socket.SOCK_STREAM
        )
    except socket.gaierror as exc:
        raise ToolFailed("host_not_found", "The host of the URL does not resolve.") from exc
    for info in infos:
        if not _public(str(info[4][0])):
            raise UrlBlocked("The URL points to a private or reserved address.")
    return parsed


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
