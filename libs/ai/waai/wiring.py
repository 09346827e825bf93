"""The one composition of the AI layer: guarded tool HTTP, LLM clients, per-tenant responders.

The rag-worker and the admin simulator both open it, so a tenant's tools reach URLs through
the same DNS-rebinding-safe client in both (wiring copied is wiring that drifts).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from decimal import Decimal

import asyncpg
import httpx

from waai.budget import MonthSpend
from waai.knowledge.retrieval import PgRetriever
from waai.llm.clients import LLMClients, llm_clients
from waai.llm.config import AISettings
from waai.llm.factory import build_responder
from waai.responders.offline import OfflineResponder
from waai.responders.responder import Responder, Tenant
from waai.tools.guarded_http import tool_http_client
from wacommon.metrics.prices import default_prices
from wacommon.repositories import reply_files
from wacommon.repositories.events import EventLog


@dataclass(frozen=True)
class AIWiring:
    """What an open wiring lends: `responder_for` plus the clients it was built on."""

    settings: AISettings
    clients: LLMClients
    # public addresses only, checked at connect time (wacommon.infra.netguard)
    tool_http: httpx.AsyncClient
    responder_for: Callable[[Tenant], Responder]


@asynccontextmanager
async def open_ai_wiring(
    settings: AISettings,
    *,
    pool: asyncpg.Pool,
    events: EventLog,
    decrypt: Callable[[str], str],
) -> AsyncIterator[AIWiring]:
    """Open the guarded client and the LLM clients; both are closed on exit."""
    async with tool_http_client(settings) as tool_http:
        # model clients on the guard too: a tenant chooses its base URL (waai.llm.clients)
        clients = llm_clients(settings)
        try:
            retriever = PgRetriever(pool)
            offline = OfflineResponder(
                retriever, files=lambda cid: reply_files.list_files(pool, cid)
            )
            spend = MonthSpend(pool, default_prices(), Decimal(str(settings.metrics_usd_brl)))

            def responder_for(tenant: Tenant) -> Responder:
                return build_responder(
                    tenant,
                    settings=settings,
                    retriever=retriever,
                    pool=pool,
                    http=tool_http,
                    events=events,
                    decrypt=decrypt,
                    clients=clients,
                    offline=offline,
                    spend=spend,
                )

            yield AIWiring(settings, clients, tool_http, responder_for)
        finally:
            await clients.aclose()
