"""A change made through the admin API's repository reaches every TenantDirectory at once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import asyncpg
import pytest

from tests.conftest import TEST_ENCRYPTION_KEY
from wacommon.infra.crypto import SecretBox
from wacommon.infra.settings import Settings
from wacommon.repositories import clients as clients_repo
from wacommon.tenants.config import TenantConfig
from wacommon.tenants.directory import PgTenantDirectory

BOX = SecretBox(TEST_ENCRYPTION_KEY)
# the brief's bound for a console change to reach every process
PROPAGATION_S = 2.0


@pytest.fixture()
async def directories(
    pool: asyncpg.Pool, settings: Settings
) -> AsyncIterator[tuple[PgTenantDirectory, PgTenantDirectory]]:
    """Two directories, as two service processes would hold them."""
    async with (
        PgTenantDirectory(pool, BOX, dsn=settings.database_url, retry_s=0.1) as one,
        PgTenantDirectory(pool, BOX, dsn=settings.database_url, retry_s=0.1) as two,
    ):
        yield one, two


async def eventually(check: Callable[[], Awaitable[bool]], within_s: float) -> bool:
    """True once `check` holds, polled until `within_s` has passed."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within_s
    while loop.time() < deadline:
        if await check():
            return True
        await asyncio.sleep(0.02)
    return await check()


async def new_tenant(pool: asyncpg.Pool) -> str:
    row = await clients_repo.create_client(
        pool,
        {"name": "Loja", "tools_config": BOX.seal({"debounce": {"quiet_seconds": 3}})},
    )
    return str(row["id"])


def quiet(config: TenantConfig | None) -> float | None:
    return config.debounce.quiet_seconds if config and config.debounce else None


async def test_an_update_through_the_admin_repository_reaches_another_directory(
    pool: asyncpg.Pool, directories: tuple[PgTenantDirectory, PgTenantDirectory]
) -> None:
    admin_side, service_side = directories
    tenant_id = await new_tenant(pool)
    assert quiet(await service_side.get(tenant_id)) == 3.0
    assert quiet(await admin_side.get(tenant_id)) == 3.0

    tools = BOX.seal({"debounce": {"quiet_seconds": 9}, "llm_config": {"api_key": "sk-new"}})
    await clients_repo.update_client(pool, tenant_id, {"tools_config": tools}, BOX)

    async def seen() -> bool:
        return quiet(await service_side.get(tenant_id)) == 9.0

    assert await eventually(seen, PROPAGATION_S)
    config = await service_side.get(tenant_id)
    assert config is not None and config.llm.api_key is not None
    assert config.llm.api_key.get_secret_value() == "sk-new"


async def test_a_deleted_tenant_is_gone_from_the_cache(
    pool: asyncpg.Pool, directories: tuple[PgTenantDirectory, PgTenantDirectory]
) -> None:
    _, service_side = directories
    tenant_id = await new_tenant(pool)
    assert await service_side.get(tenant_id) is not None
    assert await clients_repo.delete_client(pool, tenant_id)

    async def gone() -> bool:
        return await service_side.get(tenant_id) is None

    assert await eventually(gone, PROPAGATION_S)


async def test_a_dropped_listen_connection_reconnects_and_serves_no_stale_entry(
    pool: asyncpg.Pool, directories: tuple[PgTenantDirectory, PgTenantDirectory]
) -> None:
    _, service_side = directories
    tenant_id = await new_tenant(pool)
    assert quiet(await service_side.get(tenant_id)) == 3.0
    assert service_side.listening
    # the database ends the listening session (a failover, an idle-session kill, a restart)
    killed = await pool.fetchval(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
        " WHERE datname = current_database() AND query LIKE 'LISTEN%'"
    )
    assert killed >= 1
    # a change made while nobody listens must not be hidden by the cache
    tools = BOX.seal({"debounce": {"quiet_seconds": 4}})
    await clients_repo.update_client(pool, tenant_id, {"tools_config": tools}, BOX)

    async def fresh() -> bool:
        return quiet(await service_side.get(tenant_id)) == 4.0

    assert await eventually(fresh, PROPAGATION_S)

    async def listening_again() -> bool:
        return service_side.listening

    assert await eventually(listening_again, 5.0)
    # and notifications flow again on the new connection
    tools = BOX.seal({"debounce": {"quiet_seconds": 5}})
    await clients_repo.update_client(pool, tenant_id, {"tools_config": tools}, BOX)

    async def notified() -> bool:
        return quiet(await service_side.get(tenant_id)) == 5.0

    assert await eventually(notified, PROPAGATION_S)


async def test_entries_are_served_from_the_cache_between_changes(
    pool: asyncpg.Pool, directories: tuple[PgTenantDirectory, PgTenantDirectory]
) -> None:
    _, service_side = directories
    tenant_id = await new_tenant(pool)
    # the insert's own notification arrives asynchronously: a load it overlaps is not kept
    # (the directory cannot tell whether the row it read is the changed one), so the entry
    # is cached once the notification has gone by
    firsts: list[TenantConfig | None] = []

    async def cached() -> bool:
        firsts.append(await service_side.get(tenant_id))
        return await service_side.get(tenant_id) is firsts[-1]

    assert await eventually(cached, PROPAGATION_S)
    # no change, no read: the parsed object itself is served again
    assert await service_side.get(tenant_id) is firsts[-1]
    assert await service_side.get(tenant_id) is firsts[-1]


async def test_without_a_listening_connection_nothing_is_cached_until_one_opens(
    pool: asyncpg.Pool, settings: Settings
) -> None:
    database_up = asyncio.Event()
    attempts = 0

    async def connect() -> asyncpg.Connection:
        # the database refuses connections until the test lets it start
        nonlocal attempts
        attempts += 1
        if not database_up.is_set():
            raise ConnectionRefusedError("database starting")
        return await asyncpg.connect(settings.database_url)

    tenant_id = await new_tenant(pool)
    async with PgTenantDirectory(pool, BOX, connect=connect, retry_s=0.05) as directory:
        assert not directory.listening
        first = await directory.get(tenant_id)
        # read again, not served from a cache no notification could keep fresh
        assert await directory.get(tenant_id) is not first
        database_up.set()

        async def listening() -> bool:
            return directory.listening

        assert await eventually(listening, 5.0)
        cached = await directory.get(tenant_id)
        assert await directory.get(tenant_id) is cached
    assert attempts >= 2
