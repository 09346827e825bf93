"""rag-worker: context, retrieval, LLM and tools -> the reply. Wiring only."""

from __future__ import annotations

import os

import httpx
from fastapi import FastAPI

from rag_worker.handlers import RagDeps, handle_burst_ready
from rag_worker.knowledge.retrieval import PgRetriever
from rag_worker.llm.clients import LLMClients
from rag_worker.llm.config import ai_settings_from_env
from rag_worker.llm.factory import build_responder
from rag_worker.media import MediaProcessor
from rag_worker.responder import Responder, Tenant
from rag_worker.responders.offline import OfflineResponder
from rag_worker.tools.netguard import tool_http_client
from wacommon.broker.consumer import Delivery
from wacommon.broker.topology import BURST_QUEUE
from wacommon.http import run_main, serve, service_app
from wacommon.logging import configure_logging
from wacommon.runtime import Runtime
from wacommon.schemas import Envelope
from wacommon.settings import Settings


def build_app(rt: Runtime) -> FastAPI:
    """The service's HTTP app (operations routes only: its work comes from the broker)."""
    return service_app(rt, "rag-worker")


async def run(settings: Settings) -> None:
    ai = ai_settings_from_env(os.environ)
    # tools and provider media links reach URLs others control: public addresses only,
    # checked at connect time (wacommon.netguard)
    async with (
        Runtime(settings) as rt,
        httpx.AsyncClient(timeout=30.0) as http,
        tool_http_client(ai) as tool_http,
    ):
        clients = LLMClients(timeout_s=ai.llm_timeout_s)
        retriever = PgRetriever(rt.pool)
        offline = OfflineResponder(retriever)

        def responder_for(tenant: Tenant) -> Responder:
            return build_responder(
                tenant,
                settings=ai,
                retriever=retriever,
                pool=rt.pool,
                http=tool_http,
                events=rt.events,
                decrypt=rt.secrets.decrypt,
                clients=clients,
                offline=offline,
            )

        deps = RagDeps(
            rt.pool,
            rt.publisher,
            rt.events,
            rt.secrets,
            responder_for,
            process_media=MediaProcessor(
                rt.pool, http, settings, ai, clients, rt.secrets, rt.events, links=tool_http
            ),
            notifier=rt.notifier,
        )

        async def handle(msg: Envelope, delivery: Delivery) -> None:
            await handle_burst_ready(msg, delivery, deps=deps)

        consumer = rt.work_consumers(BURST_QUEUE, handle, prefetch=min(settings.prefetch, 20))
        await consumer.start()
        try:
            await serve(build_app(rt), settings, on_stop=[consumer.stop])
        finally:
            await clients.aclose()


def main() -> None:
    settings = Settings(service_name="rag-worker")
    configure_logging(settings)
    run_main(run(settings))
