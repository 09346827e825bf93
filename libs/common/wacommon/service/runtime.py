"""A service's shared resources and lifecycle: pool, broker, Redis, publisher, event log.

`Runtime` opens everything in order (waiting for dependencies with bounded
retries, applying migrations and declaring the topology) and closes in reverse.
"""

from __future__ import annotations

import asyncio
import contextlib
from types import TracebackType
from typing import Any

import aiormq.exceptions
import asyncpg
import redis.asyncio as aioredis
import structlog
from aio_pika.abc import AbstractRobustConnection

from wacommon.broker.connection import connect
from wacommon.broker.consumer import Consumer, Handler
from wacommon.broker.notify import BrokerNotifier, Notifier, NullNotifier
from wacommon.broker.publisher import AioPikaPublisher
from wacommon.broker.sharded_consumer import WorkConsumers
from wacommon.broker.topology import declare_topology
from wacommon.infra.crypto import SecretBox, box_from_settings
from wacommon.infra.db import create_pool
from wacommon.infra.dependencies import Check, DependencyProbe
from wacommon.infra.errors import BROKER, DATABASE, REDIS
from wacommon.infra.settings import Settings
from wacommon.infra.startup_checks import check_secrets
from wacommon.migrations import apply_migrations, ensure_database
from wacommon.repositories.events import BufferedEventLog

log = structlog.get_logger(__name__)


class Runtime:
    """Everything a service talks to, opened once in `main`."""

    pool: asyncpg.Pool
    connection: AbstractRobustConnection
    publisher: AioPikaPublisher
    redis: aioredis.Redis
    events: BufferedEventLog
    # console notifications (a NullNotifier without the broker)
    notifier: Notifier
    probe: DependencyProbe

    def __init__(self, settings: Settings, *, migrate: bool = True, broker: bool = True) -> None:
        self.settings = settings
        # a production deployment with placeholder secrets stops here, before opening anything
        check_secrets(settings)
        self.secrets: SecretBox = box_from_settings(settings)
        self._migrate = migrate
        self._broker = broker
        self.notifier = NullNotifier()

    async def __aenter__(self) -> Runtime:
        s = self.settings
        if self._migrate and s.migrate_on_start:
            await _retry(lambda: ensure_database(s.database_url), "db_create")
            await apply_migrations(s.database_url)
        self.pool = await create_pool(s)
        self.events = BufferedEventLog(self.pool, max_buffer=s.event_log_max_buffer)
        self.redis = aioredis.from_url(
            s.redis_url, decode_responses=False, health_check_interval=15
        )
        if self._broker:
            self.connection = await connect(s)
            await self._declare_topology()
            self.publisher = AioPikaPublisher(self.connection, s)
            self.notifier = BrokerNotifier(self.connection, s)
        self.probe = DependencyProbe(self._checks(), timeout_s=s.dependency_probe_timeout_s)
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
            if isinstance(self.notifier, BrokerNotifier):
                with contextlib.suppress(Exception):
                    await self.notifier.close()
            with contextlib.suppress(Exception):
                await self.connection.close()
        with contextlib.suppress(Exception):
            await self.redis.aclose()
        with contextlib.suppress(Exception):
            await self.pool.close()

    async def _declare_topology(self, attempts: int = 30) -> None:
        """Declare the topology, retrying while a just-restarted broker brings queues back
        (a queue whose node is still starting answers NOT_FOUND "home node ... down")."""
        delay = 0.2
        for attempt in range(1, attempts + 1):
            try:
                channel = await self.connection.channel()
                await declare_topology(channel, self.settings)
                await channel.close()
                return
            except (OSError, aiormq.exceptions.AMQPError) as exc:
                if attempt == attempts:
                    raise
                log.warning("topology_declare_retry", attempt=attempt, error=repr(exc)[:300])
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)

    def _checks(self) -> dict[str, Check]:
        checks: dict[str, Check] = {
            DATABASE: lambda: self.pool.fetchval("SELECT 1"),
            REDIS: self.redis.ping,
        }
        if self._broker:

            async def broker() -> None:
                if self.connection.is_closed:
                    raise ConnectionError("closed")
                await self.publisher.ping()

            checks[BROKER] = broker
        return checks

    async def readiness(self) -> dict[str, str]:
        """Each dependency: "ok" or the reason it is not reachable."""
        return await self.probe.status()

    def consumer(self, queue: str, handler: Handler, *, prefetch: int | None = None) -> Consumer:
        """A consumer of `queue` that pauses while a dependency of this runtime is down."""
        return Consumer(
            self.connection, self.settings, queue, handler, prefetch=prefetch, probe=self.probe
        )

    def work_consumers(
        self, queue: str, handler: Handler, *, prefetch: int | None = None
    ) -> WorkConsumers:
        """`queue`'s per-conversation shards and the unsharded queue, pausing during an outage."""
        return WorkConsumers(
            self.connection, self.settings, queue, handler, prefetch=prefetch, probe=self.probe
        )


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
