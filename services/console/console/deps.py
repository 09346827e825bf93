"""What the console's routes talk to, built once in `main` and kept on `app.state.deps`."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg
import redis.asyncio as aioredis
from aio_pika.abc import AbstractRobustConnection
from fastapi import Request

from console.auth.sessions import SessionStore
from console.auth.throttle import LoginThrottle
from console.settings import ConsoleSettings
from wacommon.broker.publisher import Publisher
from wacommon.crypto import SecretBox
from wacommon.events import BufferedEventLog
from wacommon.runtime import Runtime


@dataclass
class ConsoleDeps:
    settings: ConsoleSettings
    pool: asyncpg.Pool
    redis: aioredis.Redis
    sessions: SessionStore
    throttle: LoginThrottle
    secrets: SecretBox
    # None in tests that run the app without a broker
    publisher: Publisher | None = None
    connection: AbstractRobustConnection | None = None
    events: BufferedEventLog | None = None
    runtime: Runtime | None = None

    @classmethod
    def build(
        cls,
        settings: ConsoleSettings,
        pool: asyncpg.Pool,
        redis: aioredis.Redis,
        *,
        publisher: Publisher | None = None,
        connection: AbstractRobustConnection | None = None,
        events: BufferedEventLog | None = None,
        runtime: Runtime | None = None,
    ) -> ConsoleDeps:
        key = settings.encryption_key.get_secret_value() if settings.encryption_key else None
        return cls(
            settings=settings,
            pool=pool,
            redis=redis,
            sessions=SessionStore(
                redis,
                settings,
                settings.console_session_hours,
                cache_s=settings.console_session_cache_s,
            ),
            throttle=LoginThrottle(redis, settings),
            secrets=SecretBox(key),
            publisher=publisher,
            connection=connection,
            events=events,
            runtime=runtime,
        )

    @classmethod
    def from_runtime(cls, runtime: Runtime, settings: ConsoleSettings) -> ConsoleDeps:
        return cls.build(
            settings,
            runtime.pool,
            runtime.redis,
            publisher=runtime.publisher,
            connection=runtime.connection,
            events=runtime.events,
            runtime=runtime,
        )


async def get_deps(request: Request) -> ConsoleDeps:
    # async on purpose: FastAPI runs a plain `def` dependency in its thread pool, a thread
    # hand-off on every request (a tenth of an inbox read's time under load)
    deps: ConsoleDeps = request.app.state.deps
    return deps
