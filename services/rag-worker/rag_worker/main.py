"""rag-worker: context, retrieval, LLM and tools -> the reply. Wiring only."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from rag_worker.handlers import RagDeps, handle_burst_ready
from rag_worker.media import MediaProcessor
from rag_worker.voice_reply import VoiceReplies
from waai.llm.config import AISettings
from waai.wiring import open_ai_wiring
from wacommon.broker.consumer import Delivery
from wacommon.broker.topology import BURST_QUEUE
from wacommon.http import run_main, serve, service_app
from wacommon.logging import configure_logging
from wacommon.runtime import Runtime
from wacommon.schemas import Envelope
from wacommon.settings import Settings
from wacommon.tenants import PgTenantDirectory


def build_app(rt: Runtime) -> FastAPI:
    """The service's HTTP app (operations routes only: its work comes from the broker)."""
    return service_app(rt, "rag-worker")


async def run(settings: Settings) -> None:
    ai = AISettings()
    async with (
        Runtime(settings) as rt,
        httpx.AsyncClient(timeout=30.0) as http,
        open_ai_wiring(ai, pool=rt.pool, events=rt.events, decrypt=rt.secrets.decrypt) as wiring,
        PgTenantDirectory(rt.pool, rt.secrets, dsn=settings.database_url) as tenants,
    ):
        deps = RagDeps(
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

        async def handle(msg: Envelope, delivery: Delivery) -> None:
            await handle_burst_ready(msg, delivery, deps=deps)

        consumer = rt.work_consumers(BURST_QUEUE, handle, prefetch=min(settings.prefetch, 20))
        await consumer.start()
        await serve(build_app(rt), settings, on_stop=[consumer.stop])


def main() -> None:
    settings = Settings(service_name="rag-worker")
    configure_logging(settings)
    run_main(run(settings))
