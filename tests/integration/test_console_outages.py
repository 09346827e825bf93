"""A Redis outage answers 503 with a reason (never a 500), and the console recovers after it."""

from __future__ import annotations

from urllib.parse import urlparse

import asyncpg
import redis.asyncio as aioredis

from tests.fakes.tcp_proxy import TcpProxy
from tests.integration.console_helpers import (
    PASSWORD,
    client_for,
    console_app,
    console_settings,
    new_tenant,
    new_user,
    sign_in,
)


async def test_redis_outage_is_a_503_and_sessions_survive_it(
    pool: asyncpg.Pool, test_env: dict[str, str]
) -> None:
    target = urlparse(test_env["REDIS_URL"])
    proxy = await TcpProxy(target.hostname or "127.0.0.1", target.port or 6379).start()
    url = f"redis://127.0.0.1:{proxy.port}{target.path}"
    settings = console_settings(test_env, redis_url=url)
    redis = aioredis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
    user = await new_user(pool, await new_tenant(pool), "agent")
    try:
        async with client_for(console_app(settings, pool, redis)) as c:
            await sign_in(c, user["email"])
            await proxy.cut()
            me = await c.get("/api/auth/me")
            assert me.status_code == 503 and me.headers["Retry-After"]
            assert "indisponível" in me.json()["detail"]
            login = await c.post(
                "/api/auth/login", json={"email": user["email"], "password": PASSWORD}
            )
            assert login.status_code == 503
            await proxy.restore()
            # the session kept in Redis is still there
            assert (await c.get("/api/auth/me")).status_code == 200
    finally:
        await proxy.cut()
        await redis.aclose()
