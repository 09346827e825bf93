"""The operator creates console accounts on meta-gateway: 201/409/422/404, never the hash."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from meta_gateway.admin.users import users_router
from tests.integration.console_helpers import new_tenant
from wacommon.console import passwords
from wacommon.infra.settings import Settings

AUTH = {"Authorization": "Bearer test-admin-token"}


@pytest.fixture()
async def api(pool: asyncpg.Pool, settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    app = FastAPI()
    app.include_router(users_router(settings, pool))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        yield c


def body(**overrides: str) -> dict[str, str]:
    return {
        "email": "Dono@Padaria.com.br",
        "name": "Dono",
        "role": "owner",
        "password": "senha-longa-1",
        **overrides,
    }


async def test_operator_creates_and_lists_users(api: httpx.AsyncClient, pool: asyncpg.Pool) -> None:
    tenant = await new_tenant(pool)
    resp = await api.post(f"/admin/clients/{tenant}/users", json=body(), headers=AUTH)
    assert resp.status_code == 201, resp.text
    user = resp.json()
    assert user["client_id"] == tenant and user["role"] == "owner"
    assert user["email"] == "dono@padaria.com.br" and user["is_active"] is True
    assert "password_hash" not in user and "password" not in user
    stored = await pool.fetchval(
        "SELECT password_hash FROM console_users WHERE id = $1", user["id"]
    )
    assert stored.startswith("$argon2id$") and "senha-longa-1" not in stored
    assert await passwords.verify_password(stored, "senha-longa-1")
    agent = await api.post(
        f"/admin/clients/{tenant}/users",
        json=body(email="caixa@padaria.com.br", role="agent"),
        headers=AUTH,
    )
    assert agent.status_code == 201
    listed = await api.get(f"/admin/clients/{tenant}/users", headers=AUTH)
    assert listed.status_code == 200
    assert {(u["email"], u["role"]) for u in listed.json()} == {
        ("dono@padaria.com.br", "owner"),
        ("caixa@padaria.com.br", "agent"),
    }
    assert all("password_hash" not in u for u in listed.json())


async def test_an_email_is_used_once_whatever_its_case(
    api: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    tenant, other = await new_tenant(pool), await new_tenant(pool)
    first = await api.post(
        f"/admin/clients/{tenant}/users", json=body(email="unico@loja.com"), headers=AUTH
    )
    assert first.status_code == 201
    for target in (tenant, other):
        again = await api.post(
            f"/admin/clients/{target}/users", json=body(email="UNICO@Loja.com"), headers=AUTH
        )
        assert again.status_code == 409 and again.json()["detail"]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("password", "123456789"),
        ("email", "sem-arroba"),
        ("email", "a@b"),
        ("email", "demo@localhost"),
        ("role", "operator"),
        ("role", "admin"),
    ],
)
async def test_bad_fields_are_named(
    api: httpx.AsyncClient, pool: asyncpg.Pool, field: str, value: str
) -> None:
    tenant = await new_tenant(pool)
    resp = await api.post(
        f"/admin/clients/{tenant}/users", json=body(**{field: value}), headers=AUTH
    )
    assert resp.status_code == 422
    detail = resp.json()["detail"]
    assert [d["loc"] for d in detail] == [["body", field]]


async def test_unknown_client_and_missing_token(api: httpx.AsyncClient) -> None:
    unknown = "00000000-0000-0000-0000-000000000000"
    resp = await api.post(f"/admin/clients/{unknown}/users", json=body(), headers=AUTH)
    assert resp.status_code == 404
    assert (await api.get(f"/admin/clients/{unknown}/users", headers=AUTH)).status_code == 404
    assert (await api.get("/admin/clients/junk/users", headers=AUTH)).status_code == 404
    assert (await api.post(f"/admin/clients/{unknown}/users", json=body())).status_code == 401
