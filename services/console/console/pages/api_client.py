"""The pages read through the JSON API itself, in-process: one source of truth for what a
user may see (the same session, CSRF-free GETs, tenant scope and serialization)."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import Request

_FORWARDED = ("cookie", "accept-language")


class ApiAnswer:
    """Status and JSON body of one in-process API call."""

    __slots__ = ("data", "status")

    def __init__(self, status: int, data: Any) -> None:
        self.status = status
        self.data = data

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


def _client(request: Request) -> httpx.AsyncClient:
    found: httpx.AsyncClient | None = getattr(request.app.state, "pages_api_client", None)
    if found is None:
        address = request.client.host if request.client else "127.0.0.1"
        transport = httpx.ASGITransport(app=request.app, client=(address, 0))
        found = httpx.AsyncClient(transport=transport, base_url="http://console.internal")
        request.app.state.pages_api_client = found
    return found


async def api_get(request: Request, path: str, params: dict[str, Any] | None = None) -> ApiAnswer:
    """GET `path` of this app as the page's own user (their cookie, their language)."""
    query = {k: v for k, v in (params or {}).items() if v not in (None, "")}
    tenant = request.query_params.get("tenant_id")
    if tenant:
        query["tenant_id"] = tenant  # operators name the tenant they look at
    headers = {k: request.headers[k] for k in _FORWARDED if k in request.headers}
    resp = await _client(request).get(path, params=query, headers=headers)
    try:
        data = resp.json()
    except ValueError:
        data = None
    return ApiAnswer(resp.status_code, data)
