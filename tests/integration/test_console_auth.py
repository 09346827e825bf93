"""Console sign-in, sessions, CSRF and the sign-in throttle, on the real database and Redis."""

from __future__ import annotations

import asyncio
import hashlib

import asyncpg
import httpx
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


def session_cookie(resp: httpx.Response) -> str:
    return resp.headers["set-cookie"].split(";")[0].split("=", 1)[1]


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
        session_id = session_cookie(resp)
        assert session_id not in body["csrf_token"]
        # the cookie is opaque: nothing about the user in it, and Redis is keyed by its digest
        assert str(user["id"]) not in session_id and "dona" not in session_id
        assert not [k async for k in redis_client.scan_iter(match=f"*{session_id}*")]
        stamped = await pool.fetchval(
            "SELECT last_login_at FROM console_users WHERE id = $1", user["id"]
        )
        assert stamped is not None
        assert body["user"]["last_login_at"] == stamped.isoformat().replace("+00:00", "Z")


async def test_insecure_cookies_setting_drops_secure_only(
    pool: asyncpg.Pool, redis_client: aioredis.Redis, csettings: ConsoleSettings
) -> None:
    user = await new_user(pool, await new_tenant(pool), "agent")
    async with client_for(console_app(csettings, pool, redis_client)) as c:
        resp = await c.post("/api/auth/login", json={"email": user["email"], "password": PASSWORD})
        cookie = resp.headers["set-cookie"]
        assert "Secure" not in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie


async def test_me_needs_a_session(
    pool: asyncpg.Pool, redis_client: aioredis.Redis, csettings: ConsoleSettings
) -> None:
    user = await new_user(pool, await new_tenant(pool), "agent")
    async with client_for(console_app(csettings, pool, redis_client)) as c:
        anonymous = await c.get("/api/auth/me")
        assert anonymous.status_code == 401 and anonymous.json()["detail"]
        c.cookies.set(csettings.console_session_cookie, "forged-session-id")
        assert (await c.get("/api/auth/me")).status_code == 401
        token = await sign_in(c, user["email"])
        me = await c.get("/api/auth/me")
        assert me.status_code == 200
        assert me.json()["user"]["email"] == user["email"] and me.json()["csrf_token"] == token


async def test_wrong_password_unknown_email_and_inactive_account_get_the_same_answer(
    pool: asyncpg.Pool, redis_client: aioredis.Redis, csettings: ConsoleSettings
) -> None:
    tenant = await new_tenant(pool)
    user = await new_user(pool, tenant, "agent")
    inactive = await new_user(pool, tenant, "agent")
    await pool.execute("UPDATE console_users SET is_active = false WHERE id = $1", inactive["id"])
    app = console_app(csettings, pool, redis_client)
    answers = []
    for email, password in (
        (user["email"], "not-the-password"),
        ("nobody-here@example.com", "not-the-password"),
        ("nobody-here@example.com", PASSWORD),
        (inactive["email"], PASSWORD),
        ("not an email", PASSWORD),
    ):
        async with client_for(app) as c:
            resp = await c.post("/api/auth/login", json={"email": email, "password": password})
            assert "set-cookie" not in resp.headers
            answers.append((resp.status_code, resp.json()))
    assert answers[0][0] == 401 and answers[0][1]["detail"] == "e-mail ou senha incorretos"
    assert all(a == answers[0] for a in answers), answers


async def test_state_changing_calls_need_the_sessions_csrf_token(
    pool: asyncpg.Pool, redis_client: aioredis.Redis, csettings: ConsoleSettings
) -> None:
    user = await new_user(pool, await new_tenant(pool), "owner")
    app = console_app(csettings, pool, redis_client)
    async with client_for(app) as c, client_for(app) as other:
        token = await sign_in(c, user["email"])
        other_token = await sign_in(other, user["email"])
        assert other_token != token
        del c.headers["X-CSRF-Token"]
        missing = await c.patch("/api/me", json={"name": "Novo"})
        assert missing.status_code == 403 and "CSRF" in missing.json()["detail"]
        # a token of another session of the same user is not this session's token
        wrong = await c.patch(
            "/api/me", json={"name": "Novo"}, headers={"X-CSRF-Token": other_token}
        )
        assert wrong.status_code == 403
        assert (await c.post("/api/auth/logout")).status_code == 403
        # reads need no token
        assert (await c.get("/api/me")).status_code == 200
        ok = await c.patch("/api/me", json={"name": "Novo"}, headers={"X-CSRF-Token": token})
        assert ok.status_code == 200 and ok.json()["name"] == "Novo"
        # an HTML form may send it as a field instead of a header
        form = await c.post("/api/auth/logout", data={"csrf_token": token})
        assert form.status_code == 204


async def test_a_new_sign_in_gets_a_new_session_and_csrf_token(
    pool: asyncpg.Pool, redis_client: aioredis.Redis, csettings: ConsoleSettings
) -> None:
    user = await new_user(pool, await new_tenant(pool), "agent")
    async with client_for(console_app(csettings, pool, redis_client)) as c:
        first = await c.post("/api/auth/login", json={"email": user["email"], "password": PASSWORD})
        old_cookie, old_token = session_cookie(first), first.json()["csrf_token"]
        second = await c.post(
            "/api/auth/login", json={"email": user["email"], "password": PASSWORD}
        )
        assert session_cookie(second) != old_cookie
        assert second.json()["csrf_token"] != old_token
        # the session the browser had before signing in again is gone
        c.cookies.set(csettings.console_session_cookie, old_cookie)
        assert (await c.get("/api/auth/me")).status_code == 401


async def test_logout_revokes_the_session_on_the_server(
    pool: asyncpg.Pool, redis_client: aioredis.Redis, csettings: ConsoleSettings
) -> None:
    user = await new_user(pool, await new_tenant(pool), "agent")
    app = console_app(csettings, pool, redis_client)
    async with client_for(app) as c:
        resp = await c.post("/api/auth/login", json={"email": user["email"], "password": PASSWORD})
        cookie = session_cookie(resp)
        c.headers["X-CSRF-Token"] = resp.json()["csrf_token"]
        out = await c.post("/api/auth/logout")
        assert out.status_code == 204 and "Max-Age=0" in out.headers["set-cookie"]
    # a copy of the cookie kept elsewhere does not work any more
    async with client_for(app) as thief:
        thief.cookies.set(csettings.console_session_cookie, cookie)
        assert (await thief.get("/api/auth/me")).status_code == 401


async def test_sessions_expire_when_idle_and_each_use_renews_them(
    pool: asyncpg.Pool, redis_client: aioredis.Redis, test_env: dict[str, str]
) -> None:
    settings = console_settings(test_env, console_session_hours=2 / 3600)  # two seconds
    user = await new_user(pool, await new_tenant(pool), "agent")
    async with client_for(console_app(settings, pool, redis_client)) as c:
        await sign_in(c, user["email"])
        # used every second: alive 3 s after sign-in, past the 2 s idle limit
        for _ in range(3):
            await asyncio.sleep(1.0)
            assert (await c.get("/api/auth/me")).status_code == 200
        await asyncio.sleep(2.5)
        assert (await c.get("/api/auth/me")).status_code == 401


async def test_failed_sign_ins_are_throttled_per_email(
    pool: asyncpg.Pool, redis_client: aioredis.Redis, test_env: dict[str, str]
) -> None:
    settings = console_settings(
        test_env, console_login_max_per_email=3, console_login_max_per_address=100
    )
    tenant = await new_tenant(pool)
    user = await new_user(pool, tenant, "agent")
    bystander = await new_user(pool, tenant, "agent")
    app = console_app(settings, pool, redis_client)
    for _ in range(3):  # each from another address: the email's count is what stops them
        async with client_for(app) as c:
            resp = await c.post("/api/auth/login", json={"email": user["email"], "password": "x"})
            assert resp.status_code == 401
    async with client_for(app) as c:
        # even the right password waits now
        blocked = await c.post(
            "/api/auth/login", json={"email": user["email"].upper(), "password": PASSWORD}
        )
        assert blocked.status_code == 429, blocked.text
        retry = int(blocked.headers["Retry-After"])
        assert 1 <= retry <= settings.console_login_window_s
        assert "set-cookie" not in blocked.headers
        # another account is not affected
        await sign_in(c, bystander["email"])


async def test_failed_sign_ins_are_throttled_per_address_and_unknown_emails_count_too(
    pool: asyncpg.Pool, redis_client: aioredis.Redis, test_env: dict[str, str]
) -> None:
    settings = console_settings(
        test_env, console_login_max_per_email=100, console_login_max_per_address=4
    )
    user = await new_user(pool, await new_tenant(pool), "agent")
    app = console_app(settings, pool, redis_client)
    address = "10.200.0.7"
    async with client_for(app, address) as c:
        for i in range(4):
            resp = await c.post(
                "/api/auth/login", json={"email": f"guess{i}@example.com", "password": "x"}
            )
            assert resp.status_code == 401
        blocked = await c.post(
            "/api/auth/login", json={"email": user["email"], "password": PASSWORD}
        )
        assert blocked.status_code == 429 and int(blocked.headers["Retry-After"]) >= 1
        assert blocked.json()["detail"]
    async with client_for(app, "10.200.0.8") as elsewhere:
        await sign_in(elsewhere, user["email"])


async def test_a_successful_sign_in_clears_the_emails_failures(
    pool: asyncpg.Pool, redis_client: aioredis.Redis, test_env: dict[str, str]
) -> None:
    settings = console_settings(
        test_env, console_login_max_per_email=3, console_login_max_per_address=100
    )
    user = await new_user(pool, await new_tenant(pool), "agent")
    app = console_app(settings, pool, redis_client)
    async with client_for(app) as c:
        for _ in range(2):
            await c.post("/api/auth/login", json={"email": user["email"], "password": "x"})
        await sign_in(c, user["email"])
        for _ in range(2):
            resp = await c.post("/api/auth/login", json={"email": user["email"], "password": "x"})
            assert resp.status_code == 401
        await sign_in(c, user["email"])


async def test_a_burst_of_parallel_guesses_gets_no_more_tries_than_the_limit(
    pool: asyncpg.Pool, redis_client: aioredis.Redis, test_env: dict[str, str]
) -> None:
    settings = console_settings(
        test_env, console_login_max_per_email=3, console_login_max_per_address=100
    )
    user = await new_user(pool, await new_tenant(pool), "agent")
    app = console_app(settings, pool, redis_client)

    async def guess(i: int) -> int:
        async with client_for(app) as c:
            resp = await c.post(
                "/api/auth/login", json={"email": user["email"], "password": f"guess-{i}"}
            )
            return resp.status_code

    codes = await asyncio.gather(*(guess(i) for i in range(12)))
    assert sorted(codes) == [401] * 3 + [429] * 9


async def test_the_per_user_session_index_drops_ended_sessions_at_sign_in(
    pool: asyncpg.Pool, redis_client: aioredis.Redis, csettings: ConsoleSettings
) -> None:
    user = await new_user(pool, await new_tenant(pool), "agent")
    index = csettings.rkey("console", "user-sessions", str(user["id"]))
    app = console_app(csettings, pool, redis_client)
    async with client_for(app) as first, client_for(app) as second, client_for(app) as third:
        await sign_in(first, user["email"])
        await sign_in(second, user["email"])
        assert await redis_client.scard(index) == 2
        # the first session ends by itself (idle expiry is Redis dropping the key)
        cookie = first.cookies[csettings.console_session_cookie]
        digest = hashlib.sha256(cookie.encode()).hexdigest()
        assert await redis_client.delete(csettings.rkey("console", "session", digest)) == 1
        await sign_in(third, user["email"])
        assert await redis_client.scard(index) == 2  # the second and the third
        assert await redis_client.ttl(index) == -1  # no expiry of its own: see sessions.py
        assert (await second.get("/api/auth/me")).status_code == 200
