"""One `turn_quality` event per AI turn, through the rag-worker and the fake OpenAI server."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import asyncpg
import httpx

from tests.fakes import openai_server as oa
from tests.integration.test_rich_replies import Fakes, Shop, fakes, llm_clients
from waai.llm.clients import LLMClients
from waai.responders.responder import ResponderInput, ResponderOutput, Usage
from wacommon.broker.schemas import Provider
from wacommon.conversation import state as conversation_state
from wacommon.metrics.prices import default_prices, reply_cost_usd

__all__ = ["fakes", "llm_clients"]  # the fixtures this module uses, imported with Shop


async def quality_events(shop: Shop) -> list[dict[str, Any]]:
    rows = await shop.pool.fetch(
        "SELECT data FROM conversation_events WHERE client_id = $1 AND conversation_id = $2"
        " AND event_type = 'turn_quality' ORDER BY id",
        shop.tenant_id,
        shop.conversation_id,
    )
    return [dict(r["data"]) for r in rows]


async def test_a_grounded_answer_records_its_passages_tokens_and_cost(
    pool: asyncpg.Pool, fakes: Fakes, llm_clients: LLMClients, http: httpx.AsyncClient
) -> None:
    shop = await Shop(pool, fakes, llm_clients).seed(Provider.UAZAPI)
    message_id, _ = await shop.customer_says("Qual o horário de vocês?")
    # the static retriever's passage: "Atendemos de segunda a sexta, das 9h às 18h."
    fakes.openai.queue(oa.text("Atendemos de segunda a sexta, das 9h às 18h!"))
    await shop.answer(message_id, http)
    [event] = await quality_events(shop)
    assert event["passages"] == 1 and event["documents"] == ["horarios.md"]
    assert event["grounded"] is True
    assert event["tools"] == [] and event["silent"] is None and event["handover"] is None
    assert event["repeated_info"] is False
    assert (event["tokens_in"], event["tokens_out"]) == (oa.PROMPT_TOKENS, oa.COMPLETION_TOKENS)
    usd = reply_cost_usd(default_prices(), "gpt-test", oa.PROMPT_TOKENS, oa.COMPLETION_TOKENS)
    assert event["cost_brl"] == round(float(usd * Decimal("5.40")), 6) > 0


async def test_a_handover_and_a_repeated_email_are_recorded(
    pool: asyncpg.Pool, fakes: Fakes, llm_clients: LLMClients, http: httpx.AsyncClient
) -> None:
    shop = await Shop(pool, fakes, llm_clients).seed(Provider.UAZAPI)
    first, _ = await shop.customer_says("meu email é ana.souza@exemplo.com")
    fakes.openai.queue(oa.text("Anotado! Temos entrega grátis para todo o Brasil amanhã."))
    await shop.answer(first, http)
    second, _ = await shop.customer_says("já mandei: ana.souza@exemplo.com, quero um atendente")
    fakes.openai.queue(
        oa.tool_call("transfer_to_human", reason="cliente pediu para falar com um atendente"),
        oa.text("Vou chamar um atendente para você."),
    )
    await shop.answer(second, http)
    calm, handed = await quality_events(shop)
    assert calm["repeated_info"] is False and calm["handover"] is None
    # nothing of that is in the passage (opening hours): not grounded
    assert calm["grounded"] is False
    assert handed["repeated_info"] is True
    assert handed["handover"] == "customer_asked"
    assert handed["tools"] == ["transfer_to_human"]
    # "Vou chamar um atendente": too little said to judge against the passage
    assert handed["grounded"] is None


async def test_a_reply_dropped_as_stale_is_a_silent_turn(
    pool: asyncpg.Pool, fakes: Fakes, llm_clients: LLMClients, http: httpx.AsyncClient
) -> None:
    shop = await Shop(pool, fakes, llm_clients).seed(Provider.UAZAPI)
    first, _ = await shop.customer_says("Vocês abrem sábado?")
    # a newer message arrives while the model runs: the reply to the first is dropped
    await shop.customer_says("e domingo?")
    fakes.openai.queue(oa.text("Atendemos de segunda a sexta, das 9h às 18h."))
    await shop.answer(first, http)
    [event] = await quality_events(shop)
    assert event["silent"] == "stale" and event["handover"] is None
    assert event["passages"] == 1 and event["tokens_out"] == oa.COMPLETION_TOKENS
    assert await shop.outbox() == []


class TakenMeanwhile:
    """A responder during whose answer the team takes the conversation from the console."""

    def __init__(self, pool: asyncpg.Pool, conversation_id: str) -> None:
        self.pool, self.conversation_id = pool, conversation_id

    async def respond(self, inp: ResponderInput) -> ResponderOutput:
        async with self.pool.acquire() as conn:
            await conversation_state.handover(
                conn, inp.tenant.id, self.conversation_id, cause="console", until=None
            )
        return ResponderOutput(
            messages=["Atendemos de segunda a sexta."],
            usage=Usage(model="gpt-test", tokens_in=5, tokens_out=3),
        )


async def test_a_reply_the_team_took_over_meanwhile_is_silent_handed_over(
    pool: asyncpg.Pool, fakes: Fakes, llm_clients: LLMClients, http: httpx.AsyncClient
) -> None:
    shop = await Shop(pool, fakes, llm_clients).seed(Provider.UAZAPI)
    message_id, _ = await shop.customer_says("Qual o horário?")
    await shop.answer(message_id, http, responder=TakenMeanwhile(pool, shop.conversation_id))
    [event] = await quality_events(shop)
    assert event["silent"] == "handed_over" and event["handover"] is None
    assert (event["tokens_in"], event["tokens_out"]) == (5, 3)
    assert await shop.outbox() == []
