"""How a tenant's bot retrieves, in one place: the responder factory and the console's
"ask a question" box both go through it, so the box shows what the bot would read.

A tenant answered by a model reads `retrieval_k` passages, hybrid when its key has an
embeddings model, after the model's query rewrite when `llm_config.query_rewrite` is on. A
tenant without a model (or with one that cannot work: the misconfigured path answers
offline) gets the offline bot's lexical `OFFLINE_PASSAGES`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import asyncpg

from waai.knowledge.embeddings import embedder_for
from waai.knowledge.retrieval import PgRetriever
from waai.llm.clients import LLMClients
from waai.llm.config import AISettings, LLMConfig, llm_config
from waai.llm.ports import Retriever
from waai.llm.query_rewrite import rewriter_for, search_query
from waai.responders.offline import OFFLINE_PASSAGES
from waai.responders.responder import Turn
from wacommon.repositories.knowledge_search import Passage

Mode = Literal["offline", "model"]


def model_retriever(config: LLMConfig, retriever: Retriever, clients: LLMClients) -> Retriever:
    """The retriever of a model-answered tenant: hybrid with its own embeddings model when its
    key has one (`embedder_for`), else the lexical one it was given."""
    if isinstance(retriever, PgRetriever):
        return retriever.with_embedder(embedder_for(config, clients))
    return retriever


@dataclass(frozen=True)
class BotRetrieval:
    """What the bot would read for a question: the query it searches, the ranked passages,
    and how it got them."""

    query: str
    passages: list[Passage]
    mode: Mode
    k: int
    hybrid: bool


async def retrieve_as_bot(
    pool: asyncpg.Pool,
    tenant_id: str,
    tools_config: Mapping[str, Any],
    question: str,
    *,
    settings: AISettings,
    decrypt: Callable[[str], str],
    clients: LLMClients,
) -> BotRetrieval:
    """The passages a customer's one-message `question` would bring the tenant's bot."""
    base = PgRetriever(pool)
    try:
        config = llm_config(tools_config, settings, decrypt)
    except ValueError:  # LLMConfigInvalid, or a key sealed with a key this deployment lacks
        config = None
    if config is None or config.provider == "offline" or config.api_key is None:
        found = await base.search(tenant_id, question, OFFLINE_PASSAGES)
        return BotRetrieval(question, found, "offline", OFFLINE_PASSAGES, False)
    retriever = model_retriever(config, base, clients)
    turn = Turn("customer", question, datetime.now(UTC))
    query = await search_query(rewriter_for(config, clients), [turn], question)
    assert isinstance(retriever, PgRetriever)
    found = await retriever.search(tenant_id, query, settings.retrieval_k)
    return BotRetrieval(query, found, "model", settings.retrieval_k, retriever.hybrid)
