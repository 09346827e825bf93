"""TenantDirectory: every service's one way to read a tenant's configuration.

The PostgreSQL directory caches each parsed TenantConfig for the life of the process and
drops it when the database says the tenant changed: a trigger on `clients` (migration
0099) sends `NOTIFY tenant_config, '<id>'` on commit, and a dedicated connection LISTENs.
A change therefore reaches every process about as fast as the notification travels (well
under a second here), with no time-to-live. While the listening connection is down nothing
is cached (every get reads the row), and it is reopened in the background; a NOTIFY missed
meanwhile cannot leave a stale entry because the cache is emptied when the connection drops.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any, Protocol

import asyncpg
import structlog

from wacommon.infra.crypto import SecretBox
from wacommon.tenants.config import COLUMNS, TenantConfig, parse_tenant

log = structlog.get_logger(__name__)

CHANNEL = "tenant_config"
Connect = Callable[[], Awaitable[asyncpg.Connection]]


class TenantDirectory(Protocol):
    """Where a tenant's configuration comes from."""

    async def get(self, tenant_id: str) -> TenantConfig | None:
        """The tenant's configuration, or None when there is no such tenant."""
        ...


class PgTenantDirectory:
    """Tenants read from `clients`, cached until a NOTIFY says the tenant changed."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        secrets: SecretBox,
        *,
        connect: Connect | None = None,
        dsn: str | None = None,
        retry_s: float = 0.5,
        ping_s: float = 15.0,
    ) -> None:
        self._pool = pool
        self._secrets = secrets
        # without a way to LISTEN nothing is cached: every get reads the row (tests, tools)
        self._connect: Connect | None = connect or (
            (lambda: asyncpg.connect(dsn)) if dsn is not None else None
        )
        self._retry_s = retry_s
        # a connection that died without a reset is found by a ping this often
        self._ping_s = ping_s
        self._cache: dict[str, TenantConfig | None] = {}
        # bumped on every change and drop: a load that straddles one is not cached
        self._generation = 0
        self._listener: asyncpg.Connection | None = None
        self._lost = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def listening(self) -> bool:
        return self._listener is not None and not self._listener.is_closed()

    async def __aenter__(self) -> PgTenantDirectory:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def start(self) -> None:
        """Begin listening (in the background when the database is not reachable yet)."""
        if self._connect is None:
            return
        try:
            await self._listen()
        except Exception as exc:
            log.warning("tenant_directory_listen_failed", error=repr(exc)[:200])
        self._task = asyncio.create_task(self._keep_listening(), name="tenant-directory-listen")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self._drop_listener()

    async def get(self, tenant_id: str) -> TenantConfig | None:
        if tenant_id in self._cache:
            return self._cache[tenant_id]
        generation = self._generation
        config = await self.load(tenant_id)
        if self.listening and generation == self._generation:
            self._cache[tenant_id] = config
        return config

    async def load(self, tenant_id: str) -> TenantConfig | None:
        """The tenant read from the database now, bypassing the cache."""
        row = await self._pool.fetchrow(f"SELECT {COLUMNS} FROM clients WHERE id = $1", tenant_id)
        return parse_tenant(dict(row), self._secrets.open) if row is not None else None

    def invalidate(self, tenant_id: str | None = None) -> None:
        """Forget one tenant (or all): the next get reads the database."""
        self._generation += 1
        if tenant_id is None:
            self._cache.clear()
        else:
            self._cache.pop(tenant_id, None)

    async def _listen(self) -> None:
        assert self._connect is not None
        conn = await self._connect()
        try:
            conn.add_termination_listener(self._on_terminated)
            await conn.add_listener(CHANNEL, self._on_notify)
        except BaseException:
            conn.terminate()
            raise
        self._listener = conn
        self._lost.clear()
        # whatever changed while nobody listened is read again
        self.invalidate()
        log.info("tenant_directory_listening")

    async def _keep_listening(self) -> None:
        while True:
            if self.listening:
                await self._wait_until_lost()
            await self._drop_listener()
            try:
                await self._listen()
            except Exception as exc:
                # whatever failed, the loop must live: nothing is cached until it listens
                log.warning("tenant_directory_listen_failed", error=repr(exc)[:200])
                await asyncio.sleep(self._retry_s)

    async def _wait_until_lost(self) -> None:
        """Return once the connection is lost, or a ping finds it dead without a reset."""
        while True:
            try:
                await asyncio.wait_for(self._lost.wait(), self._ping_s)
                return
            except TimeoutError:
                pass
            listener = self._listener
            if listener is None:
                return
            try:
                await listener.fetchval("SELECT 1", timeout=self._ping_s)
            except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning("tenant_directory_ping_failed", error=repr(exc)[:200])
                return

    async def _drop_listener(self) -> None:
        conn, self._listener = self._listener, None
        self.invalidate()
        if conn is not None and not conn.is_closed():
            with contextlib.suppress(Exception):
                await conn.close(timeout=2)

    def _on_notify(self, conn: Any, pid: int, channel: str, payload: object) -> None:
        self.invalidate(str(payload) or None)

    def _on_terminated(self, conn: Any) -> None:
        if conn is not self._listener:
            # a connection this directory already dropped and replaced
            return
        log.warning("tenant_directory_listen_lost")
        self._listener = None
        self.invalidate()
        self._lost.set()
