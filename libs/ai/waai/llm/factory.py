"""Composition: the responder a tenant's configuration asks for."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import asyncpg
import httpx
import structlog

from waai.budget import BudgetedResponder, MonthSpend, budget_of, month_zone
from waai.knowledge.bot_retrieval import model_retriever
from waai.llm.clients import LLMClients
from waai.llm.config import AISettings, LLMConfigInvalid, llm_config
from waai.llm.misconfig import (
    PROCESS_LOG_LIMIT,
    GuardedResponder,
    MisconfigReporter,
    MisconfiguredResponder,
    OncePerTenant,
)
from waai.llm.ports import Retriever
from waai.llm.query_rewrite import rewriter_for
from waai.llm.turn import ResponderDeps
from waai.responders.gemini_responder import GeminiResponder
from waai.responders.openai_responder import OpenAIResponder
from waai.responders.responder import Responder, Tenant
from waai.tools.catalog import build_toolbox
from wacommon.repositories.events import EventLog

log = structlog.get_logger(__name__)


def build_responder(
    tenant: Tenant,
    *,
    settings: AISettings,
    retriever: Retriever,
    pool: asyncpg.Pool,
    http: httpx.AsyncClient,
    events: EventLog,
    decrypt: Callable[[str], str],
    clients: LLMClients,
    offline: Responder,
    log_limit: OncePerTenant = PROCESS_LOG_LIMIT,
    spend: MonthSpend | None = None,
) -> Responder:
    """OpenAI (or OpenRouter, or any compatible server) or Gemini per `llm_config`.

    No model configured anywhere is the offline bot. A model that cannot work (unknown
    provider, no key, rejected by the provider) answers offline too, but never silently:
    see waai.llm.misconfig.
    """
    reporter = MisconfigReporter(events, log_limit)
    try:
        config = llm_config(tenant.tools_config, settings, decrypt)
    except LLMConfigInvalid as exc:
        return MisconfiguredResponder(offline, reporter, exc.reason, str(exc))
    if config.provider == "offline" or config.api_key is None:
        return offline
    deps = ResponderDeps(
        settings=settings,
        retriever=model_retriever(config, retriever, clients),
        pool=pool,
        http=http,
        events=events,
        decrypt=decrypt,
        rewriter=rewriter_for(config, clients),
    )
    toolbox = build_toolbox(tenant.tools_config)
    model: Responder
    if config.provider == "openai":
        model = OpenAIResponder(
            clients.openai(config.api_key, config.base_url), config, toolbox, deps
        )
    else:
        model = GeminiResponder(
            clients.gemini(config.api_key, config.base_url), config, toolbox, deps
        )
    guarded = GuardedResponder(
        model, offline, reporter, vendor=config.vendor or config.provider, model=config.model
    )
    budget = budget_of(tenant.tools_config, tenant.id)
    if spend is None or not budget.active:
        return guarded
    cheaper_model = budget.cheaper_model

    def cheaper() -> Responder:
        # the same tenant on the cheaper model, without a budget of its own (no recursion)
        assert cheaper_model is not None
        llm = dict(tenant.tools_config.get("llm_config") or {})
        cheap = replace(
            tenant,
            tools_config={**tenant.tools_config, "llm_config": {**llm, "model": cheaper_model}},
        )
        return build_responder(
            cheap,
            settings=settings,
            retriever=retriever,
            pool=pool,
            http=http,
            events=events,
            decrypt=decrypt,
            clients=clients,
            offline=offline,
            log_limit=log_limit,
        )

    return BudgetedResponder(
        budget,
        primary=guarded,
        cheaper=cheaper if cheaper_model and cheaper_model != config.model else None,
        offline=offline,
        spend=spend,
        events=events,
        pool=pool,
        zone=month_zone(tenant.tools_config),
    )
