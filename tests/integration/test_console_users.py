"""Owners manage their tenant's accounts; agents cannot; other tenants' accounts are 404."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest
import redis.asyncio as aioredis
from fastapi import FastAPI

from console.settings import ConsoleSettings
from tests.integration.console_helpers import (
    PASSWORD,
    client_for,
    console_app,
    console_settings,
    new_tenant,
    new_user,
    sign_in,
)


@pytest.fixture(scope="module")
def csettings(test_env: dict[str, str]) -> ConsoleSettings:
    return console_settings(test_env)


@pytest.fixture()
def app(pool: asyncpg.Pool, redis_client: aioredis.Redis, csettings: ConsoleSettings) -> FastAPI:
    return console_app(csettings, pool, redis_client)


async def test_owner_lists_and_adds_accounts_of_their_tenant_only(
    app: FastAPI, pool: asyncpg.Pool
) -> None:
    tenant, other = await new_tenant(pool), await new_tenant(pool)
    owner = await new_user(pool, tenant, "owner")
    stranger = await new_user(pool, other, "agent")
    async with client_for(app) as c:
        await sign_in(c, owner["email"])
        created = await c.post(
            "/api/users",
            json={
                "email": "Nova@Loja.com.br",
                "name": "Nova",
                "role": "agent",
                "password": "x" * 12,
            },
        )
        assert created.status_code == 201, created.text
        body = created.json()
        assert body["client_id"] == tenant and body["role"] == "agent"
        assert body["email"] == "nova@loja.com.br" and "password_hash" not in body
        listed = await c.get("/api/users")
        assert listed.status_code == 200
        emails = {u["email"] for u in listed.json()}
        assert emails == {owner["email"], "nova@loja.com.br"}
        assert stranger["email"] not in emails
        # the new agent signs in with the password the owner chose
        async with client_for(app) as agent:
            await sign_in(agent, "nova@loja.com.br", "x" * 12)
        # naming another tenant in the query is just not found
        assert (await c.get("/api/users", params={"tenant_id": other})).status_code == 404
        assert (await c.get("/api/users", params={"tenant_id": tenant})).status_code == 200


async def test_creating_users_validates_and_refuses_a_used_email(
    app: FastAPI, pool: asyncpg.Pool
) -> None:
    tenant, other = await new_tenant(pool), await new_tenant(pool)
    owner = await new_user(pool, tenant, "owner")
    taken = await new_user(pool, other, "agent")
    async with client_for(app) as c:
        await sign_in(c, owner["email"])
        base = {"email": "ok@loja.com.br", "name": "A", "role": "agent", "password": "x" * 12}
        dup = await c.post("/api/users", json={**base, "email": taken["email"].upper()})
        assert dup.status_code == 409 and dup.json()["detail"]
        for field, value in (
            ("password", "curta"),
            ("email", "not-an-email"),
            ("email", "x@localhost"),
            ("role", "operator"),
            ("name", ""),
        ):
            resp = await c.post("/api/users", json={**base, field: value})
            assert resp.status_code == 422, (field, resp.text)
            assert resp.json()["detail"][0]["loc"] == ["body", field]


async def test_agents_cannot_manage_users(app: FastAPI, pool: asyncpg.Pool) -> None:
    tenant = await new_tenant(pool)
    agent = await new_user(pool, tenant, "agent")
    colleague = await new_user(pool, tenant, "agent")
    async with client_for(app) as c:
        await sign_in(c, agent["email"])
        assert (await c.get("/api/users")).status_code == 403
        new = {"email": "n@loja.com.br", "name": "N", "role": "owner", "password": "x" * 12}
        assert (await c.post("/api/users", json=new)).status_code == 403
        resp = await c.patch(f"/api/users/{colleague['id']}", json={"is_active": False})
        assert resp.status_code == 403
    assert await pool.fetchval("SELECT is_active FROM console_users WHERE id = $1", colleague["id"])


async def test_another_tenants_user_is_not_found(app: FastAPI, pool: asyncpg.Pool) -> None:
    tenant_a, tenant_b = await new_tenant(pool, "A"), await new_tenant(pool, "B")
    agent_a = await new_user(pool, tenant_a, "agent")
    owner_b = await new_user(pool, tenant_b, "owner")
    async with client_for(app) as c:
        await sign_in(c, owner_b["email"])
        resp = await c.patch(f"/api/users/{agent_a['id']}", json={"is_active": False})
        assert resp.status_code == 404
        assert (await c.patch("/api/users/not-a-uuid", json={"name": "x"})).status_code == 404
    row = await pool.fetchrow("SELECT is_active FROM console_users WHERE id = $1", agent_a["id"])
    assert row["is_active"] is True


async def test_deactivating_an_account_ends_its_sessions(app: FastAPI, pool: asyncpg.Pool) -> None:
    tenant = await new_tenant(pool)
    owner = await new_user(pool, tenant, "owner")
    agent = await new_user(pool, tenant, "agent")
    async with client_for(app) as boss, client_for(app) as phone, client_for(app) as laptop:
        await sign_in(boss, owner["email"])
        await sign_in(phone, agent["email"])
        await sign_in(laptop, agent["email"])
        resp = await boss.patch(f"/api/users/{agent['id']}", json={"is_active": False})
        assert resp.status_code == 200 and resp.json()["is_active"] is False
        assert (await phone.get("/api/auth/me")).status_code == 401
        assert (await laptop.get("/api/auth/me")).status_code == 401
        login = await phone.post(
            "/api/auth/login", json={"email": agent["email"], "password": PASSWORD}
        )
        assert login.status_code == 401
        # back on: they can sign in again
        assert (
            await boss.patch(f"/api/users/{agent['id']}", json={"is_active": True})
        ).status_code == 200
        await sign_in(phone, agent["email"])
        assert (await boss.get("/api/auth/me")).status_code == 200


async def test_owner_changes_role_name_and_password(app: FastAPI, pool: asyncpg.Pool) -> None:
    tenant = await new_tenant(pool)
    owner = await new_user(pool, tenant, "owner")
    agent = await new_user(pool, tenant, "agent")
    async with client_for(app) as boss, client_for(app) as staff:
        await sign_in(boss, owner["email"])
        await sign_in(staff, agent["email"])
        assert (await staff.get("/api/users")).status_code == 403
        promoted = await boss.patch(
            f"/api/users/{agent['id']}", json={"role": "owner", "name": "Gerente"}
        )
        assert promoted.status_code == 200 and promoted.json()["role"] == "owner"
        # the open session sees the new role at once
        assert (await staff.get("/api/users")).status_code == 200
        assert (await staff.get("/api/auth/me")).json()["user"]["name"] == "Gerente"
        short = await boss.patch(f"/api/users/{agent['id']}", json={"password": "curta"})
        assert short.status_code == 422 and short.json()["detail"][0]["loc"] == ["body", "password"]
        reset = await boss.patch(f"/api/users/{agent['id']}", json={"password": "nova-senha-forte"})
        assert reset.status_code == 200
        # a password set by the owner ends the user's sessions; the new one signs in
        assert (await staff.get("/api/auth/me")).status_code == 401
        await sign_in(staff, agent["email"], "nova-senha-forte")


async def test_the_last_active_owner_stays(app: FastAPI, pool: asyncpg.Pool) -> None:
    tenant = await new_tenant(pool)
    owner = await new_user(pool, tenant, "owner")
    async with client_for(app) as c:
        await sign_in(c, owner["email"])
        for change in ({"is_active": False}, {"role": "agent"}):
            resp = await c.patch(f"/api/users/{owner['id']}", json=change)
            assert resp.status_code == 409 and resp.json()["detail"]
        second = await new_user(pool, tenant, "owner")
        resp = await c.patch(f"/api/users/{second['id']}", json={"role": "agent"})
        assert resp.status_code == 200


async def test_operators_name_the_tenant(app: FastAPI, pool: asyncpg.Pool) -> None:
    tenant = await new_tenant(pool)
    agent = await new_user(pool, tenant, "agent")
    operator = await new_user(pool, None, "operator")
    async with client_for(app) as c:
        login = await sign_in(c, operator["email"])
        assert login
        missing = await c.get("/api/users")
        assert missing.status_code == 422
        assert missing.json()["detail"][0]["loc"] == ["query", "tenant_id"]
        unknown = "00000000-0000-0000-0000-000000000000"
        assert (await c.get("/api/users", params={"tenant_id": unknown})).status_code == 404
        assert (await c.get("/api/users", params={"tenant_id": "junk"})).status_code == 404
        listed = await c.get("/api/users", params={"tenant_id": tenant})
        assert [u["id"] for u in listed.json()] == [str(agent["id"])]
        resp = await c.patch(
            f"/api/users/{agent['id']}", params={"tenant_id": tenant}, json={"name": "Ana"}
        )
        assert resp.status_code == 200 and resp.json()["name"] == "Ana"


async def test_deactivation_ends_a_session_kept_alive_longer_than_its_idle_limit(
    pool: asyncpg.Pool, redis_client: aioredis.Redis, test_env: dict[str, str]
) -> None:
    # an attendant whose inbox stays open all day: the session outlives any fixed horizon
    settings = console_settings(test_env, console_session_hours=2 / 3600)  # two seconds idle
    app = console_app(settings, pool, redis_client)
    tenant = await new_tenant(pool)
    owner = await new_user(pool, tenant, "owner")
    agent = await new_user(pool, tenant, "agent")
    async with client_for(app) as staff, client_for(app) as boss:
        await sign_in(staff, agent["email"])
        await sign_in(boss, owner["email"])
        for _ in range(11):  # 5.5 s of use, almost three times the idle limit
            await asyncio.sleep(0.5)
            assert (await staff.get("/api/auth/me")).status_code == 200
            assert (await boss.get("/api/auth/me")).status_code == 200
        resp = await boss.patch(f"/api/users/{agent['id']}", json={"is_active": False})
        assert resp.status_code == 200
        assert (await staff.get("/api/auth/me")).status_code == 401
