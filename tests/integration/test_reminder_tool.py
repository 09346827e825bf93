"""create_reminder through the OpenAI responder and the real SDK, against the fake server."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import asyncpg
import httpx
import pytest

from tests.fakes import openai_server as oa
from tests.fakes.openai_server import FakeOpenAI
from tests.integration.llm_helpers import BOX, TZ, Offline, StaticRetriever, new_tenant
from waai.llm.clients import LLMClients
from waai.llm.config import AISettings
from waai.llm.factory import build_responder
from waai.responders.responder import ResponderInput, ResponderOutput, Tenant, Turn
from waai.tools.catalog import build_toolbox
from wacommon.broker.schemas import Contact
from wacommon.repositories import conversations as conv_repo
from wacommon.repositories.events import FakeEventLog

NOW = datetime(2031, 3, 3, 13, 0, tzinfo=UTC)  # Monday 10:00 in São Paulo


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI.serve() as server:
        yield server


async def ask(
    pool: asyncpg.Pool, http: httpx.AsyncClient, clients: LLMClients, fake: FakeOpenAI, text: str
) -> tuple[Tenant, str, ResponderOutput]:
    """A tenant with reminders on, one conversation, and the reply to `text` at NOW."""
    tools_config = {
        "reminders": True,
        "llm_config": {"provider": "openai", "model": "gpt-test", "api_key": BOX.encrypt("sk-t")},
    }
    tenant = await new_tenant(pool, tools_config, "Você é a Bia, da Clínica Sorriso.")
    conv, _ = await conv_repo.upsert_for_message(
        pool,
        tenant.id,
        Contact(key=uuid.uuid4().hex[:13], name="Ana"),
        provider="uazapi",
        instance_id=None,
        at=NOW,
        role="customer",
    )
    responder = build_responder(
        tenant,
        settings=AISettings(openai_base_url=fake.base_url),
        retriever=StaticRetriever(),
        pool=pool,
        http=http,
        events=FakeEventLog(),
        decrypt=BOX.decrypt,
        clients=clients,
        offline=Offline(),
    )
    out = await responder.respond(
        ResponderInput(
            tenant=tenant,
            conversation_id=str(conv["id"]),
            contact_key=conv["contact_key"],
            contact_name="Ana",
            history=[],
            burst=[Turn("customer", text, NOW)],
            now=NOW,
        )
    )
    return tenant, str(conv["id"]), out


def test_create_reminder_is_enabled_per_tenant() -> None:
    assert "create_reminder" in build_toolbox({"reminders": True})
    assert "create_reminder" in build_toolbox({"criar_lembrete": {"active": True}})
    assert "create_reminder" not in build_toolbox({})
    assert "create_reminder" not in build_toolbox({"reminders": {"active": False}})


async def test_model_creates_a_reminder_at_the_right_instant(
    pool: asyncpg.Pool, http: httpx.AsyncClient, clients: LLMClients, fake: FakeOpenAI
) -> None:
    fake.queue(
        oa.tool_call("create_reminder", when="amanhã às 15h", text="Consulta de limpeza às 16h"),
        oa.text("Combinado! Te lembro amanhã às 15h."),
    )
    tenant, conv, out = await ask(pool, http, clients, fake, "me lembra amanhã às 15h da consulta")

    assert out.messages == ["Combinado! Te lembro amanhã às 15h."]
    assert out.usage.tool_calls == [{"name": "create_reminder", "ok": True}]
    [row] = await pool.fetch(
        "SELECT due_at, text, when_text, status FROM reminders"
        " WHERE client_id = $1 AND conversation_id = $2",
        tenant.id,
        conv,
    )
    assert row["due_at"] == datetime(2031, 3, 4, 15, 0, tzinfo=TZ)
    assert (row["text"], row["when_text"], row["status"]) == (
        "Consulta de limpeza às 16h",
        "amanhã às 15h",
        "pending",
    )
    [result] = fake.tool_results()
    assert result["ok"] is True
    assert result["due_at"] == "2031-03-04T15:00:00-03:00"
    assert "create_reminder" in [t["function"]["name"] for t in fake.requests[-2]["tools"]]


async def test_ambiguous_time_goes_back_to_the_model_as_an_error(
    pool: asyncpg.Pool, http: httpx.AsyncClient, clients: LLMClients, fake: FakeOpenAI
) -> None:
    fake.queue(
        oa.tool_call("create_reminder", when="mais tarde", text="Ligar para a clínica"),
        oa.text("Que dia e horário você prefere?"),
    )
    tenant, conv, out = await ask(pool, http, clients, fake, "me lembra mais tarde de ligar")

    assert out.messages == ["Que dia e horário você prefere?"]
    assert out.usage.tool_calls == [
        {"name": "create_reminder", "ok": False, "error": "ambiguous_time"}
    ]
    [result] = fake.tool_results()
    assert (result["ok"], result["error"]) == (False, "ambiguous_time")
    assert "mais tarde" in result["message"]
    count = await pool.fetchval(
        "SELECT count(*) FROM reminders WHERE client_id = $1 AND conversation_id = $2",
        tenant.id,
        conv,
    )
    assert count == 0


async def test_the_same_reminder_asked_twice_is_stored_once(
    pool: asyncpg.Pool, http: httpx.AsyncClient, clients: LLMClients, fake: FakeOpenAI
) -> None:
    fake.queue(
        oa.tool_call("create_reminder", when="dia 10 às 9h", text="Pagar o boleto"),
        oa.tool_call("create_reminder", when="dia 10 às 9h", text="Pagar o boleto"),
        oa.text("Combinado!"),
    )
    tenant, conv, out = await ask(pool, http, clients, fake, "me lembra dia 10 às 9h do boleto")

    assert out.messages == ["Combinado!"]
    rows = await pool.fetch(
        "SELECT id, due_at FROM reminders WHERE client_id = $1 AND conversation_id = $2",
        tenant.id,
        conv,
    )
    assert [r["due_at"] for r in rows] == [datetime(2031, 3, 10, 9, 0, tzinfo=TZ)]
    again = fake.tool_results()[-1]
    assert (again["reminder_id"], again["already_scheduled"]) == (str(rows[0]["id"]), True)
