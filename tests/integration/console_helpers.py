"""Building blocks for console tests: the app in-process on the run's database and Redis,
tenants, users, and signed-in clients (cookie + CSRF header)."""

from __future__ import annotations

import os
import random
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from unittest import mock

import asyncpg
import httpx
import redis.asyncio as aioredis
from fastapi import FastAPI

from console.app import build_app
from console.deps import ConsoleDeps
from console.settings import ConsoleSettings
from wacommon.console import passwords
from wacommon.repositories import users as users_repo

PASSWORD = "senha-de-teste-123"


def console_settings(test_env: dict[str, str], **overrides: Any) -> ConsoleSettings:
    """Settings for this run (own database, Redis prefix), with `overrides` as fields."""
    # every test signs in from 127.0.0.1 under the run's Redis prefix: the per-address limit
    # (which counts successful sign-ins too) would otherwise be spent by the suite itself;
    # the throttle tests set their own limits through `overrides`
    env = {**test_env, "CONSOLE_INSECURE_COOKIES": "1", "CONSOLE_LOGIN_MAX_PER_ADDRESS": "100000"}
    with mock.patch.dict(os.environ, env):
        base = ConsoleSettings(_env_file=None)  # type: ignore[call-arg]
    return base.model_copy(update=overrides)


def console_app(
    settings: ConsoleSettings, pool: asyncpg.Pool, redis: aioredis.Redis, **deps: Any
) -> FastAPI:
    return build_app(ConsoleDeps.build(settings, pool, redis, **deps))


def random_address() -> str:
    """A client address of its own, so sign-in throttle counts do not leak between tests."""
    return "10." + ".".join(str(random.randrange(1, 255)) for _ in range(3))


@asynccontextmanager
async def client_for(app: FastAPI, address: str | None = None) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client talking to the app in-process, as if from `address` (random by default)."""
    address = address or random_address()
    transport = httpx.ASGITransport(app=app, client=(address, 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://console.test") as c:
        yield c


async def new_tenant(pool: asyncpg.Pool, name: str = "Loja") -> str:
    return str(await pool.fetchval("INSERT INTO clients (name) VALUES ($1) RETURNING id", name))


async def new_user(
    pool: asyncpg.Pool,
    tenant: str | None,
    role: str = "owner",
    *,
    email: str | None = None,
    password: str = PASSWORD,
    name: str = "Pessoa",
) -> dict[str, Any]:
    """A console account stored directly (what the operator's admin route does)."""
    return await users_repo.create_user(
        pool,
        tenant_id=tenant,
        email=email or f"{role}-{uuid.uuid4().hex[:8]}@example.com",
        name=name,
        role=role,
        password_hash=passwords.hash_password_sync(password),
    )


async def sign_in(client: httpx.AsyncClient, email: str, password: str = PASSWORD) -> str:
    """Sign the client in (its cookie jar keeps the session); returns the CSRF token and
    sets it as a default header so state-changing calls pass."""
    resp = await client.post("/api/auth/login", json={"email": email, "password": password})
    assert resp.status_code == 200, resp.text
    token = str(resp.json()["csrf_token"])
    client.headers["X-CSRF-Token"] = token
    return token
