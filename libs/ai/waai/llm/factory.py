"""Composition: the responder a tenant's configuration asks for."""

from __future__ import annotations

from collections.abc import Callable

import asyncpg
import httpx
import structlog

from waai.llm.clients import LLMClients
from waai.llm.config import AISettings, llm_config
from waai.llm.ports import Retriever
from waai.llm.turn import ResponderDeps
from waai.responders.gemini_responder import GeminiResponder
from waai.responders.openai_responder import OpenAIResponder
from waai.responders.responder import Responder, Tenant
from waai.tools.catalog import build_toolbox
from wacommon.events import EventLog

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
) -> Responder:
    """OpenAI or Gemini per `tools_config["llm_config"]`; `offline` when no key or bad config."""
    try:
        config = llm_config(tenant.tools_config, settings, decrypt)
    except ValueError as exc:
        log.warning("llm_config_invalid", client_id=tenant.id, error=str(exc))
        return offline
    if config.provider == "offline" or config.api_key is None:
        return offline
    deps = ResponderDeps(
        settings=settings, retriever=retriever, pool=pool, http=http, events=events, decrypt=decrypt
    )
    toolbox = build_toolbox(tenant.tools_config)
    if config.provider == "openai":
        return OpenAIResponder(
            clients.openai(config.api_key, config.base_url), config, toolbox, deps
        )
    return GeminiResponder(clients.gemini(config.api_key, config.base_url), config, toolbox, deps)
