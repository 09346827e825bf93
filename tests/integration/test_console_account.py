"""A user's own account: name, language, alert number, password change."""

from __future__ import annotations

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


async def test_owner_updates_their_settings(app: FastAPI, pool: asyncpg.Pool) -> None:
    owner = await new_user(pool, await new_tenant(pool), "owner")
    async with client_for(app) as c:
        await sign_in(c, owner["email"])
        me = await c.get("/api/me")
        assert me.status_code == 200 and me.json()["locale"] == "pt-BR"
        assert me.json()["notify_sound"] is True and me.json()["alert_whatsapp"] is None
        resp = await c.patch(
            "/api/me",
            json={
                "name": "Maria",
                "locale": "en",
                "notify_sound": False,
                "alert_whatsapp": "+55 (11) 99999-0000",
            },
        )
        assert resp.status_code == 200, resp.text
        body = resp.json()
        assert (body["name"], body["locale"], body["notify_sound"]) == ("Maria", "en", False)
        assert body["alert_whatsapp"] == "5511999990000"
        # the session follows (pages render in the user's language)
        assert (await c.get("/api/auth/me")).json()["user"]["locale"] == "en"
        cleared = await c.patch("/api/me", json={"alert_whatsapp": ""})
        assert cleared.json()["alert_whatsapp"] is None and cleared.json()["name"] == "Maria"


async def test_bad_account_values_name_the_field(app: FastAPI, pool: asyncpg.Pool) -> None:
    owner = await new_user(pool, await new_tenant(pool), "owner")
    async with client_for(app) as c:
        await sign_in(c, owner["email"])
        for field, value in (
            ("alert_whatsapp", "12"),
            ("alert_whatsapp", "55119999abc"),
            ("alert_whatsapp", "0551199990000"),
            ("locale", "fr"),
            ("email", "x@y.com"),
        ):
            resp = await c.patch("/api/me", json={field: value})
            assert resp.status_code == 422, (field, value, resp.text)
            assert resp.json()["detail"][0]["loc"][:2] == ["body", field]


async def test_agents_have_no_whatsapp_alerts(app: FastAPI, pool: asyncpg.Pool) -> None:
    agent = await new_user(pool, await new_tenant(pool), "agent")
    async with client_for(app) as c:
        await sign_in(c, agent["email"])
        resp = await c.patch("/api/me", json={"alert_whatsapp": "5511999990000"})
        assert resp.status_code == 403
        assert (await c.patch("/api/me", json={"notify_sound": False})).status_code == 200


async def test_password_change_needs_the_current_one_and_ends_other_sessions(
    app: FastAPI, pool: asyncpg.Pool
) -> None:
    agent = await new_user(pool, await new_tenant(pool), "agent")
    async with client_for(app) as c, client_for(app) as other_device:
        await sign_in(c, agent["email"])
        await sign_in(other_device, agent["email"])
        wrong = await c.patch(
            "/api/me", json={"current_password": "chute-errado", "new_password": "nova-senha-123"}
        )
        assert wrong.status_code == 400 and wrong.json()["detail"]
        missing = await c.patch("/api/me", json={"new_password": "nova-senha-123"})
        assert missing.status_code == 400
        short = await c.patch("/api/me", json={"current_password": PASSWORD, "new_password": "x"})
        assert short.status_code == 422
        ok = await c.patch(
            "/api/me", json={"current_password": PASSWORD, "new_password": "nova-senha-123"}
        )
        assert ok.status_code == 200
        assert (await c.get("/api/me")).status_code == 200
        assert (await other_device.get("/api/me")).status_code == 401
    async with client_for(app) as c:
        old = await c.post("/api/auth/login", json={"email": agent["email"], "password": PASSWORD})
        assert old.status_code == 401
        await sign_in(c, agent["email"], "nova-senha-123")
