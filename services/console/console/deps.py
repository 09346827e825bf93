"""What the console's routes talk to, built once in `main` and kept on `app.state.deps`."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import asyncpg
import redis.asyncio as aioredis
from aio_pika.abc import AbstractRobustConnection
from fastapi import Request

from console.auth.sessions import SessionStore
from console.auth.throttle import LoginThrottle
from console.settings import ConsoleSettings
from waai.knowledge.extract import document_limits
from waai.knowledge.file_search import FileSearchSyncs
from waai.knowledge.library import KnowledgeBase
from waai.llm.config import AISettings
from wacommon.broker.publisher import Publisher
from wacommon.infra.crypto import SecretBox, box_from_settings
from wacommon.repositories.events import BufferedEventLog
from wacommon.service.runtime import Runtime


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
    # the tenants' knowledge bases (`/api/knowledge`); tests pass one on their fakes
    knowledge: KnowledgeBase | None = None
    # background File Search syncs running now, kept so they are not collected mid-way
    tasks: set[asyncio.Task[None]] = field(default_factory=set)

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
        knowledge: KnowledgeBase | None = None,
    ) -> ConsoleDeps:
        # tenants' secrets may be sealed with an older key (ENCRYPTION_OLD_KEYS): open with all
        box = box_from_settings(settings)
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
            secrets=box,
            publisher=publisher,
            connection=connection,
            events=events,
            runtime=runtime,
            knowledge=knowledge or console_knowledge(settings, pool, box),
        )


def console_knowledge(
    settings: ConsoleSettings, pool: asyncpg.Pool, box: SecretBox
) -> KnowledgeBase:
    """The knowledge bases with the deployment's AI settings (as the rag-worker reads them)."""
    ai = AISettings()
    return KnowledgeBase(
        pool,
        ai,
        box.decrypt,
        document_limits(settings),
        max_bytes=settings.knowledge_max_bytes,
        file_search=FileSearchSyncs(
            ai, box.decrypt, poll_interval_s=settings.console_file_search_poll_s
        ),
    )


async def get_deps(request: Request) -> ConsoleDeps:
    # async on purpose: FastAPI runs a plain `def` dependency in its thread pool, a thread
    # hand-off on every request (a tenth of an inbox read's time under load)
    deps: ConsoleDeps = request.app.state.deps
    return deps
