"""The replay lab: a tenant's real turns answered again by a candidate prompt, nothing sent.

The model is the fake OpenAI server, answering in the voice of whatever persona the system
prompt names; the tenant's channel is the fake Uazapi server, and the real sender handler
drives every outbox row the tenant has after the runs (it delivers a control reply, so the
check can see a send).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from unittest import mock

import asyncpg
import httpx
import pytest
import redis.asyncio as aioredis
from fastapi import FastAPI

from meta_gateway.admin.replay_lab import replay_lab_router
from tests.fakes.openai_server import COMPLETION_TOKENS, PROMPT_TOKENS, FakeOpenAI, text, tool_call
from tests.fakes.server import ServerThread, serve_in_thread
from tests.fakes.uazapi import UazapiFakeState
from tests.fakes.uazapi import create_app as uazapi_app
from tests.integration.console_helpers import (
    client_for,
    console_app,
    console_settings,
    new_user,
    sign_in,
)
from tests.integration.outbox_helpers import HTTP_TIMEOUT_S, Tenant, drive, sent_texts, worker
from waai.knowledge.ingest import ingest_document
from waai.llm.config import AISettings
from waai.replay_lab.candidate import Candidate, CandidateInvalid
from waai.replay_lab.figures import Pricing
from waai.replay_lab.report import as_json, as_text
from waai.replay_lab.runner import LabDeps, LabLimits, LabReport, run_lab
from wacommon.broker.schemas import Contact, InboundMessage, MessageKind, Provider, utcnow
from wacommon.infra.crypto import SecretBox
from wacommon.infra.settings import Settings
from wacommon.metrics.prices import default_prices
from wacommon.providers.uazapi.outbound import UazapiClient
from wacommon.repositories import event_types as ev
from wacommon.repositories import messages as msg_repo
from wacommon.repositories import outbox as outbox_repo

TOKEN = "uaz-replay-lab-token"
BOX = SecretBox(None)
PRICING = Pricing(default_prices(), Decimal("5"))
AUTH = {"Authorization": "Bearer test-admin-token"}
KB = "# Wi-Fi\n\nA senha do wifi da loja é pizza2024, rede Forno Convidados.\n"
WIFI_OLD = "A senha do wifi da loja é pizza2024, rede Forno Convidados."


def persona_answer(body: dict[str, Any]) -> dict[str, Any]:
    """The fake model: speaks as the persona on the prompt's first line, reads the passages."""
    messages = body["messages"]
    persona = messages[0]["content"].splitlines()[0]
    last = [m for m in messages if m["role"] == "user"][-1]["content"]
    if "lembr" in last and not any(m["role"] == "tool" for m in messages):
        return tool_call("create_reminder", when="amanhã às 10h", text="buscar o pedido")
    if "pizza2024" in messages[0]["content"] and "wifi" in last:
        return text(f"{persona} A senha do wifi da loja é pizza2024, rede Forno Convidados.")
    return text(f"{persona} Combinado, anotei aqui para você.")


@pytest.fixture(scope="module")
def model() -> Iterator[FakeOpenAI]:
    with FakeOpenAI.serve() as fake:
        fake.default = persona_answer
        yield fake


@pytest.fixture(scope="module")
def ai(model: FakeOpenAI) -> AISettings:
    return AISettings(
        llm_provider="openai",
        openai_api_key="sk-fake",
        openai_base_url=model.base_url,
        metrics_usd_brl=5.0,
    )


@pytest.fixture(scope="module")
def uazapi() -> Iterator[tuple[UazapiFakeState, ServerThread]]:
    """The tenant's channel: the fake Uazapi server and what it received."""
    state = UazapiFakeState({TOKEN})
    with serve_in_thread(uazapi_app(state)) as server:
        yield state, server


@pytest.fixture(scope="module")
def deps(ai: AISettings) -> LabDeps:
    return LabDeps(ai, BOX.open, BOX.decrypt, PRICING)


async def _inbound(tenant: Tenant, text_: str, mid: str) -> None:
    stored = await msg_repo.store_inbound(
        tenant.pool,
        InboundMessage(
            provider=Provider.UAZAPI,
            tenant_id=tenant.tenant_id,
            instance_id=tenant.instance_id,
            contact=Contact(key=tenant.phone, phone=tenant.phone),
            provider_message_id=mid,
            kind=MessageKind.TEXT,
            text=text_,
            sent_at=utcnow(),
        ),
        tenant.conversation_id,
    )
    assert stored is not None


async def _sent_reply(
    tenant: Tenant, text_: str, tokens: tuple[int, int], tool: str = "", handover: str = ""
) -> None:
    """A bot reply as the pipeline leaves it: sent, with its `ai_responded` (and tool) events."""
    [row_id] = await tenant.reply(text_)
    await outbox_repo.mark_sent(tenant.pool, tenant.tenant_id, row_id, f"uaz-{row_id}")
    at = await tenant.pool.fetchval("SELECT created_at FROM chat_messages WHERE id = $1", row_id)
    correlation = f"corr-{row_id}"
    events = [
        (ev.AI_RESPONDED, {"model": "gpt-4o", "tokens_in": tokens[0], "tokens_out": tokens[1]})
    ]
    if tool:
        events.append((ev.TOOL_USED, {"tool": tool, "ok": True}))
    if handover:
        events.append((ev.HUMAN_TAKEOVER, {"cause": f"ai:{handover}", "until": None}))
    for kind, data in events:
        await tenant.pool.execute(
            "INSERT INTO conversation_events"
            " (client_id, conversation_id, event_type, data, correlation_id, created_at)"
            " VALUES ($1, $2, $3, $4, $5, $6)",
            tenant.tenant_id,
            tenant.conversation_id,
            kind,
            data,
            correlation,
            at if kind == ev.AI_RESPONDED else at - timedelta(seconds=1),
        )


@pytest.fixture(scope="module")
async def tenant(pool: asyncpg.Pool, uazapi: tuple[UazapiFakeState, ServerThread]) -> Tenant:
    """A bakery on Uazapi with reminders on and one real conversation of two turns."""
    seeded = await Tenant(pool, "uazapi").seed(
        {
            "url": uazapi[1].url,
            "token": TOKEN,
            "pacing": {"min_delay_ms": 0, "max_extra_delay_ms": 0, "daily_cap": 0},
        }
    )
    await pool.execute(
        "UPDATE clients SET name = 'Forno da Vila', system_prompt = $2, tools_config = $3"
        " WHERE id = $1",
        seeded.tenant_id,
        "Persona antiga.",
        {"reminders": True},
    )
    await ingest_document(pool, seeded.tenant_id, "loja.md", KB.encode())
    await _inbound(seeded, "oi, qual a senha do wifi?", f"in-{seeded.phone}-1")
    await _sent_reply(seeded, WIFI_OLD, (300, 40))
    await _inbound(seeded, "me lembra amanhã de buscar o pedido", f"in-{seeded.phone}-2")
    await _sent_reply(
        seeded,
        "Pode deixar, lembrete criado!",
        (500, 60),
        tool="create_reminder",
        handover="quer confirmar o pedido",
    )
    return seeded


async def _footprint(pool: asyncpg.Pool, tenant_id: str) -> dict[str, int]:
    """Everything a run could have written for the tenant."""
    counts = {}
    for table in ("chat_messages", "conversation_events", "reminders", "reply_traces"):
        counts[table] = await pool.fetchval(
            f"SELECT count(*) FROM {table} WHERE client_id = $1",
            tenant_id,
        )
    return counts


async def _run(pool: asyncpg.Pool, deps: LabDeps, tenant: Tenant, prompt: str) -> LabReport:
    limits = LabLimits(conversations=5, turns_per_conversation=5, concurrency=2)
    return await run_lab(pool, tenant.tenant_id, Candidate(prompt=prompt), limits, deps)


async def test_a_changed_prompt_changes_the_replies_and_nothing_is_sent(
    pool: asyncpg.Pool,
    redis_client: aioredis.Redis,
    settings: Settings,
    deps: LabDeps,
    tenant: Tenant,
    uazapi: tuple[UazapiFakeState, ServerThread],
) -> None:
    uaz_state = uazapi[0]
    before = await _footprint(pool, tenant.tenant_id)

    ana = await _run(pool, deps, tenant, "Ana da padaria:\nVocê é a Ana, simpática.")
    beto = await _run(pool, deps, tenant, "Beto da padaria:\nVocê é o Beto, direto.")

    assert [t.customer for t in ana.turns] == [
        ["oi, qual a senha do wifi?"],
        ["me lembra amanhã de buscar o pedido"],
    ]
    for report, persona in ((ana, "Ana da padaria:"), (beto, "Beto da padaria:")):
        assert all(t.error is None and t.new is not None for t in report.turns)
        assert all(t.new.bubbles[0].startswith(persona) for t in report.turns if t.new)
        assert all(t.changed for t in report.turns)
    assert [t.new.bubbles for t in ana.turns if t.new] != [
        t.new.bubbles for t in beto.turns if t.new
    ]

    wifi, reminder = ana.turns
    assert wifi.old.bubbles == [WIFI_OLD] and wifi.old.by == "bot"
    assert wifi.new is not None and reminder.new is not None
    # the new reply's figures: retrieval, grounding, one model call priced in R$
    new = wifi.new.figures
    assert new.model == "gpt-4o-mini" and new.passages == 1 and new.grounded is True
    assert (new.tokens_in, new.tokens_out) == (PROMPT_TOKENS, COMPLETION_TOKENS)
    assert new.cost_brl == PRICING.brl("gpt-4o-mini", PROMPT_TOKENS, COMPLETION_TOKENS) > 0
    # the old one's, from its events, grounded against today's passages
    old = wifi.old.figures
    assert (old.model, old.tokens_in, old.tokens_out, old.grounded) == ("gpt-4o", 300, 40, True)
    assert old.cost_brl == PRICING.brl("gpt-4o", 300, 40)
    # the reminder was shown to the model, not scheduled: two calls, the tool in dry run
    figures = reminder.new.figures
    assert figures.tools == ["create_reminder"] == figures.dry_run_tools
    assert (figures.tokens_in, figures.tokens_out) == (2 * PROMPT_TOKENS, 2 * COMPLETION_TOKENS)
    assert reminder.old.figures.tools == ["create_reminder"]
    assert reminder.old.figures.handover_reason == "quer confirmar o pedido"
    assert wifi.old.figures.handover_reason is None
    assert "MUDOU" in as_text(ana) and as_json(ana)["totals"]["changed"] == 2

    # nothing written: no message, no outbox row, no event, no reminder, no trace
    assert await _footprint(pool, tenant.tenant_id) == before
    pending = [
        row
        for row in await outbox_repo.stale_pending(pool, 0, limit=10_000)
        if str(row["client_id"]) == tenant.tenant_id
    ]
    assert pending == []
    # and the real sender, driving every outbox row of the tenant, sends nothing ...
    async with httpx.AsyncClient(timeout=HTTP_TIMEOUT_S) as http:
        sender = worker(pool, redis_client, settings, {"uazapi": UazapiClient(http)})
        for row in pending:
            await drive(sender, tenant.command(int(row["id"])))
        assert sent_texts(uaz_state, tenant.phone) == []
        # ... while it does deliver a reply that is really queued (the check can see a send)
        [control] = await tenant.reply("controle")
        await drive(sender, tenant.command(control))
    assert sent_texts(uaz_state, tenant.phone) == ["controle"]


async def test_a_candidate_without_a_key_is_refused_before_any_call(
    pool: asyncpg.Pool, deps: LabDeps, tenant: Tenant, model: FakeOpenAI
) -> None:
    calls = len(model.requests)
    with pytest.raises(CandidateInvalid, match="no api key for gemini"):
        limits = LabLimits(conversations=1)
        await run_lab(pool, tenant.tenant_id, Candidate(provider="gemini"), limits, deps)
    assert len(model.requests) == calls


async def test_without_the_knowledge_base_nothing_is_retrieved(
    pool: asyncpg.Pool, deps: LabDeps, tenant: Tenant
) -> None:
    limits = LabLimits(conversations=1, turns_per_conversation=1)
    report = await run_lab(pool, tenant.tenant_id, Candidate(knowledge="none"), limits, deps)
    [turn] = report.turns
    assert turn.new is not None and turn.new.figures.passages == 0
    # the tenant's own prompt, and no passages to ground either reply on
    assert turn.new.bubbles[0].startswith("Persona antiga.")
    assert turn.old.figures.grounded is None


@pytest.fixture()
async def api(
    pool: asyncpg.Pool, settings: Settings, ai: AISettings
) -> AsyncIterator[httpx.AsyncClient]:
    app = FastAPI()
    app.include_router(replay_lab_router(settings, pool, BOX, ai=ai))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        yield client


async def test_admin_endpoint(api: httpx.AsyncClient, tenant: Tenant, pool: asyncpg.Pool) -> None:
    url = f"/admin/clients/{tenant.tenant_id}/replay-lab"
    before = await _footprint(pool, tenant.tenant_id)
    resp = await api.post(url, json={"prompt": "Carla da padaria:\nVocê é a Carla."}, headers=AUTH)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["totals"]["replayed"] == 2 and body["candidate"]["prompt"] is True
    assert all(t["new"]["bubbles"][0].startswith("Carla da padaria:") for t in body["turns"])
    assert body["turns"][0]["new"]["figures"]["cost_brl"] is not None
    assert await _footprint(pool, tenant.tenant_id) == before

    assert (await api.post(url, json={})).status_code == 401
    other = "/admin/clients/00000000-0000-0000-0000-000000000000/replay-lab"
    assert (await api.post(other, json={}, headers=AUTH)).status_code == 404
    assert (await api.post(url, json={"last": 1000}, headers=AUTH)).status_code == 422
    assert (await api.post(url, json={"colour": "red"}, headers=AUTH)).status_code == 422
    refused = await api.post(url, json={"provider": "gemini"}, headers=AUTH)
    assert refused.status_code == 422
    [error] = refused.json()["detail"]
    assert error["loc"] == ["body", "provider"] and "no api key for gemini" in error["msg"]


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """`make replay-lab ARGS=...` as a process of its own."""
    return subprocess.run(
        [sys.executable, "-m", "waai.replay_lab", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_cli_prints_old_and_new_side_by_side(
    test_env: dict[str, str], model: FakeOpenAI, tenant: Tenant, tmp_path: Path
) -> None:
    prompt = tmp_path / "prompt.txt"
    prompt.write_text("Dora da padaria:\nVocê é a Dora.\n", encoding="utf-8")
    env = {
        **os.environ,
        **test_env,
        "LLM_PROVIDER": "openai",
        "OPENAI_API_KEY": "sk-fake",
        "OPENAI_BASE_URL": model.base_url,
    }
    args = ["--client", tenant.tenant_id, "--last", "3", "--prompt-file", str(prompt)]
    done = _cli(env, *args, "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert [t["new"]["bubbles"][0].split(" ")[0] for t in report["turns"]] == ["Dora", "Dora"]
    side = _cli(env, *args)
    assert side.returncode == 0, side.stderr
    assert "antes (bot)" in side.stdout and "depois (candidato)" in side.stdout
    bad = _cli(env, "--client", "nope")
    assert bad.returncode == 2 and "not a tenant id" in bad.stderr


async def test_the_console_page_shows_old_and_new_replies_to_the_owner(
    pool: asyncpg.Pool,
    redis_client: aioredis.Redis,
    test_env: dict[str, str],
    model: FakeOpenAI,
    tenant: Tenant,
) -> None:
    owner = await new_user(pool, tenant.tenant_id, "owner")
    agent = await new_user(pool, tenant.tenant_id, "agent")
    app = console_app(console_settings(test_env), pool, redis_client)
    llm = {"LLM_PROVIDER": "openai", "OPENAI_API_KEY": "sk-fake", "OPENAI_BASE_URL": model.base_url}
    before = await _footprint(pool, tenant.tenant_id)
    with mock.patch.dict(os.environ, llm):
        async with client_for(app) as console:
            await sign_in(console, owner["email"])
            page = await console.get("/laboratorio")
            assert page.status_code == 200
            assert "Persona antiga." in page.text and 'name="prompt"' in page.text
            form = {"prompt": "Eva da padaria:\nVocê é a Eva.", "last": "3", "knowledge": "current"}
            done = await console.post("/laboratorio/rodar", data=form)
            assert done.status_code == 200, done.text
            assert done.text.count('class="lab-turn"') == 2
            assert done.text.count("Eva da padaria:") == 2
            assert "Antes (assistente)" in done.text and "fundamentada" in done.text
            assert "simulado, não feito" in done.text  # the reminder, shown and not made
            empty = await console.post("/laboratorio/rodar", data={**form, "prompt": " "})
            assert empty.status_code == 422 and "Prompt:" in empty.text
            odd = await console.post("/laboratorio/rodar", data={**form, "last": "7"})
            assert odd.status_code == 422
        async with client_for(app) as other:
            await sign_in(other, agent["email"])
            assert (await other.get("/laboratorio")).status_code == 403
            assert (await other.post("/laboratorio/rodar", data=form)).status_code == 403
    assert await _footprint(pool, tenant.tenant_id) == before
