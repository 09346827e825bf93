"""`make run`'s demo accounts and the operator CLI, signed in through the console."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from uuid import UUID

import asyncpg
import redis.asyncio as aioredis

from tests.integration.console_helpers import client_for, console_app, console_settings, new_tenant
from wacommon.infra.settings import Settings
from walocal.localdev import (
    NEW_USERS,
    ensure_env_file,
    read_env,
    seed_console_users,
    seed_empty_tenant,
)

ROOT = Path(__file__).resolve().parents[2]


async def test_demo_owner_and_agent_with_passwords_in_env(
    pool: asyncpg.Pool,
    redis_client: aioredis.Redis,
    settings: Settings,
    test_env: dict[str, str],
    tmp_path: Path,
) -> None:
    env_file = tmp_path / ".env"
    assert ensure_env_file(env_file)["CONSOLE_INSECURE_COOKIES"] == "1"
    tenant = await new_tenant(pool, "Pizzaria Demo")
    generated = await seed_console_users(settings, tenant, env_file)
    values = read_env(env_file)
    owner_pw = values["CONSOLE_DEMO_OWNER_PASSWORD"]
    agent_pw = values["CONSOLE_DEMO_AGENT_PASSWORD"]
    assert generated == {
        "CONSOLE_DEMO_OWNER_PASSWORD": owner_pw,
        "CONSOLE_DEMO_AGENT_PASSWORD": agent_pw,
    }
    assert len(owner_pw) >= 16 and owner_pw != agent_pw

    app = console_app(console_settings(test_env), pool, redis_client)

    async def role_after_sign_in(email: str, password: str) -> str | int:
        async with client_for(app) as c:
            resp = await c.post("/api/auth/login", json={"email": email, "password": password})
            if resp.status_code != 200:
                return resp.status_code
            user = resp.json()["user"]
            assert user["client_id"] == tenant
            return str(user["role"])

    assert await role_after_sign_in("demo@localhost", owner_pw) == "owner"
    assert await role_after_sign_in("atendente@localhost", agent_pw) == "agent"

    # the next `make run` changes nothing and prints no password
    assert await seed_console_users(settings, tenant, env_file) == {}
    assert read_env(env_file)["CONSOLE_DEMO_OWNER_PASSWORD"] == owner_pw
    assert await role_after_sign_in("demo@localhost", owner_pw) == "owner"

    # a password dropped from .env is replaced, and the old one stops working
    env_file.write_text(
        "\n".join(
            line
            for line in env_file.read_text().splitlines()
            if not line.startswith("CONSOLE_DEMO_AGENT_PASSWORD")
        )
        + "\n"
    )
    again = await seed_console_users(settings, tenant, env_file)
    new_agent_pw = again["CONSOLE_DEMO_AGENT_PASSWORD"]
    assert list(again) == ["CONSOLE_DEMO_AGENT_PASSWORD"] and new_agent_pw != agent_pw
    assert await role_after_sign_in("atendente@localhost", agent_pw) == 401
    assert await role_after_sign_in("atendente@localhost", new_agent_pw) == "agent"


async def test_the_empty_tenant_has_an_owner_and_nothing_set_up(
    pool: asyncpg.Pool,
    redis_client: aioredis.Redis,
    settings: Settings,
    test_env: dict[str, str],
    tmp_path: Path,
) -> None:
    env_file = tmp_path / ".env"
    ensure_env_file(env_file)
    tenant = await seed_empty_tenant(settings)
    assert await seed_empty_tenant(settings) == tenant  # the next `make run` adds no second one
    generated = await seed_console_users(settings, tenant, env_file, users=NEW_USERS)
    password = read_env(env_file)["CONSOLE_NEW_OWNER_PASSWORD"]
    assert generated == {"CONSOLE_NEW_OWNER_PASSWORD": password}
    # nothing set up: no number, no knowledge, no prompt
    assert (
        await pool.fetchval("SELECT count(*) FROM client_providers WHERE client_id = $1", tenant)
        == 0
    )
    assert await pool.fetchval("SELECT system_prompt FROM clients WHERE id = $1", tenant) in (
        None,
        "",
    )
    app = console_app(console_settings(test_env), pool, redis_client)
    async with client_for(app) as c:
        resp = await c.post(
            "/api/auth/login", json={"email": "nova@localhost", "password": password}
        )
        assert resp.status_code == 200, resp.text
        assert resp.json()["user"]["client_id"] == tenant
        assert resp.json()["user"]["role"] == "owner"


def run_cli(test_env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "console.users", *args],
        env={**os.environ, **test_env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def test_operator_account_from_the_command_line(
    pool: asyncpg.Pool, redis_client: aioredis.Redis, test_env: dict[str, str]
) -> None:
    done = run_cli(test_env, "add", "--email", "Operadora@Example.com", "--role", "operator")
    assert done.returncode == 0, done.stderr
    password = done.stdout.split("password (shown once, store it now): ", 1)[1].strip()
    assert password
    app = console_app(console_settings(test_env), pool, redis_client)
    async with client_for(app) as c:
        resp = await c.post(
            "/api/auth/login", json={"email": "operadora@example.com", "password": password}
        )
        assert resp.status_code == 200, resp.text
        assert resp.json()["user"]["role"] == "operator"
        assert resp.json()["user"]["client_id"] is None
    again = run_cli(test_env, "add", "--email", "OPERADORA@example.com")
    assert again.returncode == 1 and "already used" in again.stderr
    assert run_cli(test_env, "add", "--email", "x@example.com", "--role", "owner").returncode == 2
    assert run_cli(test_env, "add", "--email", "not-an-email").returncode == 2
    tenant = await new_tenant(pool)
    owner = run_cli(
        test_env, "add", "--email", "dono@example.com", "--role", "owner", "--tenant", tenant
    )
    assert owner.returncode == 0, owner.stderr
    assert await pool.fetchval(
        "SELECT client_id FROM console_users WHERE email = 'dono@example.com'"
    ) == UUID(tenant)
