"""Follow-ups and reminder checks written by the tenant's model (the OpenAI fake, real SDK)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import asyncpg
import pytest

from followup.llm_writers import LLMFollowupWriter, LLMReminderCheck, TenantLLMs
from followup.scanner import FollowupScanner
from tests.fakes import openai_server as oa
from tests.fakes.openai_server import FakeOpenAI
from tests.integration.llm_helpers import BOX
from tests.integration.test_followups import (
    SP,
    T0,
    conversation,
    customer_writes,
    events,
    followup_row,
    outbound,
    scanner,
    sends,
)
from waai.llm.clients import LLMClients
from waai.llm.config import AISettings
from wacommon.broker.publisher import FakePublisher
from wacommon.conversation.reminders import create_reminder
from wacommon.repositories.events import PgEventLog

STAGE = {"active": True, "stages": [{"delay_minutes": 60, "prompt": "Pergunte se quer agendar"}]}
LLM = {"provider": "openai", "model": "gpt-test", "api_key": BOX.encrypt("sk-tenant")}


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI.serve() as server:
        yield server


def llm_scanner(
    pool: asyncpg.Pool, publisher: FakePublisher, fake: FakeOpenAI, clients: LLMClients
) -> FollowupScanner:
    tenants = TenantLLMs(pool, AISettings(openai_base_url=fake.base_url), BOX)
    events = PgEventLog(pool)
    return scanner(
        pool,
        publisher,
        writer=LLMFollowupWriter(tenants, clients, events),
        checker=LLMReminderCheck(tenants, clients, events),
    )


async def tenant_conversation(
    pool: asyncpg.Pool, plan: dict[str, Any], llm: dict[str, Any] | None = LLM
) -> tuple[str, str]:
    tenant_id, conv = await conversation(pool, plan=plan)
    await pool.execute(
        "UPDATE clients SET system_prompt = $2, tools_config = $3 WHERE id = $1",
        tenant_id,
        "Você é a Bia, da Clínica Sorriso.",
        {"llm_config": llm} if llm else {},
    )
    return tenant_id, conv


async def test_stage_text_written_by_the_model_is_sent(
    pool: asyncpg.Pool, fake: FakeOpenAI, clients: LLMClients
) -> None:
    tenant_id, conv = await tenant_conversation(pool, STAGE)
    fake.queue(oa.text("Oi Ana! Ainda quer agendar a **limpeza**?"))
    publisher = FakePublisher()
    result = await llm_scanner(pool, publisher, fake, clients).run_once(T0 + timedelta(hours=1))

    assert result.followups["sent"] == 1
    [row] = await outbound(pool, tenant_id, conv)
    assert row["content"] == "Oi Ana! Ainda quer agendar a *limpeza*?"
    assert [(m.outbound_id, m.origin) for m in sends(publisher, conv)] == [(row["id"], "followup")]
    request = fake.requests[-1]
    assert (request["model"], request["_auth"]) == ("gpt-test", "Bearer sk-tenant")
    system, user = request["messages"][0]["content"], request["messages"][1]["content"]
    assert "Você é a Bia" in system and "Pergunte se quer agendar" in system
    assert "FINISHED" in system
    assert "Cliente: Quanto custa?" in user and "Assistente: Custa R$ 50." in user
    usage = [d for e, d in await events(pool, tenant_id, conv) if e == "llm_usage"]
    assert usage == [
        {
            "model": "gpt-test",
            "tokens_in": oa.PROMPT_TOKENS,
            "tokens_out": oa.COMPLETION_TOKENS,
            "purpose": "followup",
        }
    ]


async def test_model_answering_finished_closes_the_conversation(
    pool: asyncpg.Pool, fake: FakeOpenAI, clients: LLMClients
) -> None:
    tenant_id, conv = await tenant_conversation(pool, STAGE)
    fake.queue(oa.text(" FINISHED."))
    publisher = FakePublisher()
    await llm_scanner(pool, publisher, fake, clients).run_once(T0 + timedelta(hours=1))

    assert await outbound(pool, tenant_id, conv) == []
    assert sends(publisher, conv) == []
    assert (await followup_row(pool, tenant_id, conv))["state"] == "closed"
    [data] = [d for e, d in await events(pool, tenant_id, conv) if e == "resolved"]
    assert (data["by"], data["cause"]) == ("ai", "followup_finished")


async def test_tenant_without_llm_gets_the_offline_text(
    pool: asyncpg.Pool, fake: FakeOpenAI, clients: LLMClients
) -> None:
    tenant_id, conv = await tenant_conversation(pool, STAGE, llm=None)
    asked = len(fake.requests)
    await llm_scanner(pool, FakePublisher(), fake, clients).run_once(T0 + timedelta(hours=1))

    [row] = await outbound(pool, tenant_id, conv)
    assert row["content"] == "Oi Ana! Ficou alguma dúvida? Estou por aqui se precisar."
    assert len(fake.requests) == asked


async def test_model_down_leaves_the_stage_for_a_later_scan(
    pool: asyncpg.Pool, fake: FakeOpenAI, clients: LLMClients
) -> None:
    tenant_id, conv = await tenant_conversation(pool, STAGE)
    fake.queue(oa.error(503), oa.text("Oi Ana, ainda posso ajudar?"))
    publisher = FakePublisher()
    first = await llm_scanner(pool, publisher, fake, clients).run_once(T0 + timedelta(hours=1))
    assert first.followups["error"] == 1
    assert await outbound(pool, tenant_id, conv) == []
    await llm_scanner(pool, publisher, fake, clients).run_once(T0 + timedelta(hours=1, minutes=6))
    [row] = await outbound(pool, tenant_id, conv)
    assert row["content"] == "Oi Ana, ainda posso ajudar?"
    assert len(sends(publisher, conv)) == 1


async def test_model_words_a_due_reminder(
    pool: asyncpg.Pool, fake: FakeOpenAI, clients: LLMClients
) -> None:
    tenant_id, conv = await tenant_conversation(pool, {})
    async with pool.acquire() as conn:
        reminder = await create_reminder(
            conn, tenant_id, conv, "amanhã às 15h", "buscar o carro na oficina", T0, SP
        )
    fake.queue(oa.text("Oi Ana! Lembrete: hoje às 15h você vai buscar o carro na oficina."))
    publisher = FakePublisher()
    await llm_scanner(pool, publisher, fake, clients).run_once(reminder.due_at)

    [row] = await outbound(pool, tenant_id, conv)
    assert row["content"] == "Oi Ana! Lembrete: hoje às 15h você vai buscar o carro na oficina."
    assert [m.origin for m in sends(publisher, conv)] == ["reminder"]
    assert "buscar o carro na oficina" in fake.requests[-1]["messages"][0]["content"]


async def test_model_skips_a_reminder_that_no_longer_makes_sense(
    pool: asyncpg.Pool, fake: FakeOpenAI, clients: LLMClients
) -> None:
    tenant_id, conv = await tenant_conversation(pool, {})
    async with pool.acquire() as conn:
        reminder = await create_reminder(
            conn, tenant_id, conv, "amanhã às 15h", "buscar o carro na oficina", T0, SP
        )
    # the offline check would send this one: only the model sees it is moot
    await customer_writes(
        pool, tenant_id, conv, "Consegui pegar o carro hoje", T0 + timedelta(hours=2)
    )
    fake.queue(oa.text("SKIP"))
    publisher = FakePublisher()
    await llm_scanner(pool, publisher, fake, clients).run_once(reminder.due_at)

    assert await outbound(pool, tenant_id, conv) == []
    assert sends(publisher, conv) == []
    assert "Cliente: Consegui pegar o carro hoje" in fake.requests[-1]["messages"][1]["content"]
    status = await pool.fetchrow(
        "SELECT status, error FROM reminders WHERE client_id = $1 AND id = $2",
        tenant_id,
        reminder.id,
    )
    assert status is not None and (status["status"], status["error"]) == ("cancelled", "llm_check")
