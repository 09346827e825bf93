"""A request value PostgreSQL refuses is the caller's mistake: a 422 with a reason, never a 500.

Cleaning covers the webhooks (their text is the customer's, it must land); an operator's
request with U+0000 or a lone surrogate in a field is refused with a clear answer instead,
on every HTTP service (the handler sits in `service_app`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest

from meta_gateway.admin.tenants import tenants_router
from wacommon.infra.crypto import SecretBox
from wacommon.infra.settings import Settings
from wacommon.service.http import service_app

AUTH = {"Authorization": "Bearer test-admin-token", "content-type": "application/json"}


@pytest.fixture()
async def api(pool: asyncpg.Pool, settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    app = service_app(None, "meta-gateway")
    app.include_router(tenants_router(settings, pool, SecretBox("test-encryption-passphrase")))
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        yield c


@pytest.mark.parametrize("name", ["Lo\\u0000ja", "Lo\\ud800ja"])
async def test_a_value_the_database_refuses_is_a_422(api: httpx.AsyncClient, name: str) -> None:
    body = '{"name": "' + name + '"}'  # the escape as it travels in JSON
    resp = await api.post("/admin/clients", content=body, headers=AUTH)
    assert resp.status_code == 422, resp.text
    detail = resp.json()["detail"]
    if isinstance(detail, list):  # refused by the request model: the field is named
        assert ["body", "name"] in [d["loc"] for d in detail]
    else:  # refused by PostgreSQL: the reason, without echoing the value
        assert "cannot be stored" in detail
