"""Shared fixtures: each test run gets its own database, broker names and Redis prefix."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from unittest import mock

import asyncpg
import pytest
import redis.asyncio as aioredis
from aio_pika.abc import AbstractRobustConnection

from wacommon.broker.connection import connect
from wacommon.broker.topology import declare_topology, delete_topology
from wacommon.infra.db import create_pool
from wacommon.infra.settings import Settings
from wacommon.migrations import apply_migrations, ensure_database

RUN_ID = uuid.uuid4().hex[:10]
# a real Fernet key, as production requires (a fixed one: tests read what other tests sealed)
TEST_ENCRYPTION_KEY = "dGVzdC1lbmNyeXB0aW9uLWtleS0zMi1ieXRlcy0hISE="
PG_BASE = os.environ.get("TEST_PG_BASE", "postgresql://postgres@127.0.0.1:5432")


@pytest.fixture(scope="session")
def run_id() -> str:
    return RUN_ID


@pytest.fixture(scope="session")
def test_env() -> dict[str, str]:
    """Environment for this run: services started by e2e tests get the same isolation."""
    return {
        "DATABASE_URL": f"{PG_BASE}/wa_test_{RUN_ID}",
        "AMQP_URL": os.environ.get("TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/"),
        "REDIS_URL": os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0"),
        "BROKER_PREFIX": f"t{RUN_ID}.",
        "REDIS_PREFIX": f"t{RUN_ID}:",
        "LOG_FORMAT": "json",
        "ADMIN_TOKEN": "test-admin-token",
        "META_APP_SECRET": "test-app-secret",
        "META_VERIFY_TOKEN": "test-verify-token",
        "ENCRYPTION_KEY": TEST_ENCRYPTION_KEY,
        # test mode tolerates the short ADMIN_TOKEN above; production refuses it
        "WA_ENV": "test",
        "RETRY_DELAYS_MS": "[200, 400, 800, 1600]",
    }


@pytest.fixture(scope="session")
def settings(test_env: dict[str, str]) -> Settings:
    with mock.patch.dict(os.environ, test_env):
        return Settings(_env_file=None)  # type: ignore[call-arg]


@pytest.fixture(scope="session")
async def database(settings: Settings) -> AsyncIterator[str]:
    await ensure_database(settings.database_url)
    await apply_migrations(settings.database_url)
    yield settings.database_url
    conn = await asyncpg.connect(f"{PG_BASE}/postgres")
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "wa_test_{RUN_ID}" WITH (FORCE)')
    finally:
        await conn.close()


@pytest.fixture(scope="session")
async def pool(database: str, settings: Settings) -> AsyncIterator[asyncpg.Pool]:
    p = await create_pool(settings, min_size=1, max_size=10)
    yield p
    await p.close()


@pytest.fixture(scope="session")
async def amqp(settings: Settings) -> AsyncIterator[AbstractRobustConnection]:
    conn = await connect(settings)
    channel = await conn.channel()
    await declare_topology(channel, settings)
    yield conn
    channel = await conn.channel()
    await delete_topology(channel, settings)
    await conn.close()


@pytest.fixture(scope="session", autouse=True)
async def _run_broker_names_removed(settings: Settings) -> AsyncIterator[None]:
    """The run's broker names go at its end even when no test asked for `amqp`.

    The services an e2e test starts declare the topology themselves (24 shard quorum queues
    among it); a run of e2e tests alone used to leave all of it on the shared broker, and
    leftover quorum queues weigh on it. Deleting names that do not exist is harmless.
    """
    yield
    try:
        conn = await connect(settings, attempts=2)
    except Exception as exc:  # a unit-only run on a machine without a broker
        print(f"broker names with prefix {settings.broker_prefix} not removed: {exc!r}")
        return
    try:
        await delete_topology(await conn.channel(), settings)
    finally:
        await conn.close()


@pytest.fixture(scope="session")
async def redis_client(settings: Settings) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.from_url(settings.redis_url)
    yield client
    keys = [k async for k in client.scan_iter(match=f"{settings.redis_prefix}*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


CORPUS_DIR = os.path.join(os.path.dirname(__file__), "data", "corpus")


@pytest.fixture()
def corpus_dir() -> Iterator[str]:
    """Real provider payloads (a copy of shared/corpus kept in the repo)."""
    yield CORPUS_DIR
