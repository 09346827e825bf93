"""Tenant tool HTTP on the shared guard (wacommon.infra.netguard), with answers the model can read.

The guard's refusals become `ToolFailed` here, so the model hears a reason instead of the
turn failing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from waai.llm.config import AISettings
from waai.tools.registry import ToolFailed
from wacommon.infra import netguard
from wacommon.infra.netguard import (
    AddressBlocked,
    Resolver,
    public_only_client,
    read_capped,
    resolve,
)

__all__ = [
    "CappedResponse",
    "UrlBlocked",
    "check_url",
    "fetch_capped",
    "public_only_client",
    "tool_http_client",
]


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


def tool_http_client(ai: AISettings, *, resolver: Resolver = resolve) -> httpx.AsyncClient:
    """The one client tools get, in the worker and in the simulator: public addresses only.

    The ViaCEP base URL is the operator's, like the hosts listed in TOOL_ALLOWED_HOSTS.
    """
    trusted = {*ai.tool_allowed_hosts, httpx.URL(ai.viacep_url).host}
    return public_only_client(trusted, timeout_s=30.0, resolver=resolver)


async def check_url(url: str, allowed_hosts: Iterable[str]) -> httpx.URL:
    """Refuse URLs a tenant must not reach; hosts the operator allows skip every check."""
    try:
        return await netguard.check_url(url, allowed_hosts)
    except AddressBlocked as exc:
        raise UrlBlocked(f"{str(exc).capitalize()}.") from None
    except netguard.HostNotFound:
        raise ToolFailed("host_not_found", "The host of the URL does not resolve.") from None


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
            body, truncated = await read_capped(resp, max_bytes, truncate=True)
            encoding = resp.encoding or "utf-8"
            status, ctype = resp.status_code, resp.headers.get("content-type", "")
    except AddressBlocked as exc:
        raise UrlBlocked(f"{str(exc).capitalize()}.") from None
    except netguard.HostNotFound:
        raise ToolFailed("host_not_found", "The host of the URL does not resolve.") from None
    except httpx.TimeoutException as exc:
        raise ToolFailed("timeout", "The service did not answer in time.") from exc
    except httpx.HTTPError as exc:
        raise ToolFailed("http_error", "The service could not be reached.") from exc
    return CappedResponse(status, body.decode(encoding, errors="replace"), truncated, ctype)
