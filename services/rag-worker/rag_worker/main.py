"""rag-worker: context, retrieval, LLM and tools -> the reply. Wiring only."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI

from rag_worker.deps import RagDeps
from rag_worker.handlers import HANDLERS
from rag_worker.media import MediaProcessor
from rag_worker.settings import RagWorkerSettings
from rag_worker.voice_reply import VoiceReplies
from waai.llm.config import AISettings
from waai.wiring import open_ai_wiring
from wacommon.broker.dispatch import dispatcher
from wacommon.broker.topology import BURST_QUEUE
from wacommon.infra.logging import configure_logging
from wacommon.service.http import run_main, serve, service_app
from wacommon.service.runtime import Runtime
from wacommon.tenants.directory import PgTenantDirectory


@asynccontextmanager
async def bootstrap(
    settings: RagWorkerSettings, rt: Runtime, ai: AISettings
) -> AsyncIterator[RagDeps]:
    """The composition root: the handlers' dependencies on an opened runtime."""
    async with (
        httpx.AsyncClient(timeout=30.0) as http,
        open_ai_wiring(ai, pool=rt.pool, events=rt.events, decrypt=rt.secrets.decrypt) as wiring,
        PgTenantDirectory(rt.pool, rt.secrets, dsn=settings.database_url) as tenants,
    ):
        yield RagDeps(
            rt.pool,
            rt.publisher,
            rt.events,
            rt.secrets,
            wiring.responder_for,
            # provider media links reach URLs others control: the same guarded client
            process_media=MediaProcessor(
                rt.pool,
                http,
                settings,
                ai,
                wiring.clients,
                rt.secrets,
                rt.events,
                links=wiring.tool_http,
            ),
            notifier=rt.notifier,
            voice=VoiceReplies(wiring.clients, ai, rt.events),
            tenants=tenants,
            # the monthly budget's rate: a turn's cost in reais is the budget's
            usd_brl=ai.metrics_usd_brl,
        )


def build_app(rt: Runtime) -> FastAPI:
    """The service's HTTP app (operations routes only: its work comes from the broker)."""
    return service_app(rt, "rag-worker")


async def run(settings: RagWorkerSettings) -> None:
    """Open the runtime, consume bursts and serve health endpoints until stopped."""
    ai = AISettings()
    async with Runtime(settings) as rt, bootstrap(settings, rt, ai) as deps:
        consumer = rt.work_consumers(
            BURST_QUEUE, dispatcher(HANDLERS, deps), prefetch=min(settings.prefetch, 20)
        )
        await consumer.start()
        await serve(build_app(rt), settings, on_stop=[consumer.stop])


def main() -> None:
    """`python -m rag_worker`."""
    settings = RagWorkerSettings()
    configure_logging(settings)
    run_main(run(settings))
