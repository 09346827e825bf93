"""Console sign-in, sessions, CSRF and the sign-in throttle, on the real database and Redis."""

from __future__ import annotations

import asyncpg
import pytest
import redis.asyncio as aioredis

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


async def test_sign_in_returns_the_user_and_a_csrf_token_and_sets_a_safe_cookie(
    pool: asyncpg.Pool, redis_client: aioredis.Redis, test_env: dict[str, str]
) -> None:
    # secure cookies here (the default), to see the attribute
    settings = console_settings(test_env, console_insecure_cookies=False)
    tenant = await new_tenant(pool)
    user = await new_user(pool, tenant, "owner", email="Dona@Example.com")
    async with client_for(console_app(settings, pool, redis_client)) as c:
        resp = await c.post(
            "/api/auth/login", json={"email": "dona@example.COM", "password": PASSWORD}
        )
        assert resp.status_code == 200, resp.text
        body = resp.json()
        assert body["user"]["id"] == str(user["id"]) and body["user"]["role"] == "owner"
        assert body["user"]["client_id"] == tenant
        assert "password_hash" not in body["user"] and len(body["csrf_token"]) >= 32
        cookie = resp.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Secure" in cookie
        session_id = cookie.split(";")[0].split("=", 1)[1]
        assert session_id not in body["csrf_token"]
        # the cookie is opaque: nothing about the user in it
        assert str(user["id"]) not in session_id and "dona" not in session_id
        stamped = await pool.fetchval(
            "SELECT last_login_at FROM console_users WHERE id = $1", user["id"]
        )
        assert stamped is not None


async def test_me_needs_a_session(
    pool: asyncpg.Pool, redis_client: aioredis.Redis, csettings: ConsoleSettings
) -> None:
    tenant = await new_tenant(pool)
    user = await new_user(pool, tenant, "agent")
    async with client_for(console_app(csettings, pool, redis_client)) as c:
        anonymous = await c.get("/api/auth/me")
        assert anonymous.status_code == 401 and anonymous.json()["detail"]
        token = await sign_in(c, user["email"])
        me = await c.get("/api/auth/me")
        assert me.status_code == 200
        assert me.json()["user"]["email"] == user["email"] and me.json()["csrf_token"] == token
