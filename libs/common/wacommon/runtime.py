"""A service's shared resources and lifecycle: pool, broker, Redis, publisher, event log.

`Runtime` opens everything in order (waiting for dependencies with bounded
retries, applying migrations and declaring the topology) and closes in reverse.
"""

from __future__ import annotations

import asyncio
import contextlib
from types import TracebackType
from typing import Any

import asyncpg
import redis.asyncio as aioredis
import structlog
from aio_pika.abc import AbstractRobustConnection

from wacommon.broker.connection import connect
from wacommon.broker.publisher import AioPikaPublisher
from wacommon.broker.topology import declare_topology
from wacommon.crypto import SecretBox, box_from_settings
from wacommon.db import create_pool
from wacommon.events import BufferedEventLog
from wacommon.migrations import apply_migrations, ensure_database
from wacommon.settings import Settings
from wacommon.startup_checks import check_secrets

log = structlog.get_logger(__name__)


class Runtime:
    """Everything a service talks to, opened once in `main`."""

    pool: asyncpg.Pool
    connection: AbstractRobustConnection
    publisher: AioPikaPublisher
    redis: aioredis.Redis
    events: BufferedEventLog

    def __init__(self, settings: Settings, *, migrate: bool = True, broker: bool = True) -> None:
        self.settings = settings
        # a production deployment with placeholder secrets stops here, before opening anything
        check_secrets(settings)
        self.secrets: SecretBox = box_from_settings(settings)
        self._migrate = migrate
        self._broker = broker

    async def __aenter__(self) -> Runtime:
        s = self.settings
        if self._migrate and s.migrate_on_start:
            await _retry(lambda: ensure_database(s.database_url), "db_create")
            await apply_migrations(s.database_url)
        self.pool = await create_pool(s)
        self.events = BufferedEventLog(self.pool)
        self.redis = aioredis.from_url(
            s.redis_url, decode_responses=False, health_check_interval=15
        )
        if self._broker:
            self.connection = await connect(s)
            channel = await self.connection.channel()
            await declare_topology(channel, s)
            await channel.close()
            self.publisher = AioPikaPublisher(self.connection, s)
        log.info("runtime_ready")
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        with contextlib.suppress(Exception):
            await self.events.close()
        if self._broker:
            with contextlib.suppress(Exception):
                await self.publisher.close()
            with contextlib.suppress(Exception):
                await self.connection.close()
        with contextlib.suppress(Exception):
            await self.redis.aclose()
        with contextlib.suppress(Exception):
            await self.pool.close()

    async def readiness(self) -> dict[str, str]:
        """Each dependency: "ok" or the reason it is not reachable."""
        out: dict[str, str] = {}

        async def check(name: str, probe: Any) -> None:
            try:
                await asyncio.wait_for(probe(), 2.0)
                out[name] = "ok"
            except Exception as exc:
                out[name] = f"error: {type(exc).__name__}"

        await check("database", lambda: self.pool.fetchval("SELECT 1"))
        await check("redis", self.redis.ping)
        if self._broker:

            async def broker() -> None:
                if self.connection.is_closed:
                    raise ConnectionError("closed")

            await check("broker", broker)
        return out


async def _retry(fn: Any, what: str, attempts: int = 30) -> Any:
    delay = 0.2
    for attempt in range(1, attempts + 1):
        try:
            return await fn()
        except (OSError, asyncpg.CannotConnectNowError) as exc:
            if attempt == attempts:
                raise
            log.warning("dependency_retry", what=what, attempt=attempt, error=str(exc))
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)
    return None
