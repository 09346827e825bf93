"""The console's bot settings API against the real database and Redis: each section's
defaults, strict validation that changes nothing, secrets sealed and masked, the history,
roles and tenant scope, and a change seen by a service's TenantDirectory within moments."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest
import redis.asyncio as aioredis

from console.settings import ConsoleSettings
from tests.conftest import TEST_ENCRYPTION_KEY
from tests.fakes import gemini_server as gemini_fake
from tests.fakes import openai_server as openai_fake
from tests.fakes.gemini_server import FakeGemini
from tests.fakes.openai_server import FakeOpenAI
from tests.integration.console_helpers import (
    client_for,
    console_app,
    console_settings,
    new_tenant,
    new_user,
    sign_in,
)
from waai.budget import budget_of
from waai.tools.catalog import build_toolbox
from wacommon.broker.schemas import utcnow
from wacommon.conversation.commands import parse_customer_command
from wacommon.conversation.followups import parse_plan
from wacommon.conversation.human_reply import human_pause_until
from wacommon.infra.crypto import MASK, SecretBox
from wacommon.infra.settings import Settings
from wacommon.tenants.contact_filter import contact_allowed
from wacommon.tenants.directory import PgTenantDirectory

BOX = SecretBox(TEST_ENCRYPTION_KEY)
# the bound docs/console-settings.md states for a change to reach every service
PROPAGATION_S = 2.0


@pytest.fixture(scope="module")
def csettings(test_env: dict[str, str]) -> ConsoleSettings:
    return console_settings(test_env, tool_allowed_hosts="127.0.0.1")


@pytest.fixture()
async def owner_client(
    pool: asyncpg.Pool, redis_client: aioredis.Redis, csettings: ConsoleSettings
) -> AsyncIterator[tuple[httpx.AsyncClient, str]]:
    tenant = await new_tenant(pool)
    owner = await new_user(pool, tenant, "owner", name="Dona Ana")
    async with client_for(console_app(csettings, pool, redis_client)) as c:
        await sign_in(c, owner["email"])
        yield c, tenant


async def tools_of(pool: asyncpg.Pool, tenant: str) -> dict[str, Any]:
    raw: dict[str, Any] = await pool.fetchval(
        "SELECT tools_config FROM clients WHERE id = $1", tenant
    )
    return raw


async def test_every_section_answers_its_defaults(
    owner_client: tuple[httpx.AsyncClient, str],
) -> None:
    c, _ = owner_client
    listed = (await c.get("/api/settings")).json()["sections"]
    assert listed[:5] == ["persona", "model", "hours", "debounce", "handover"]
    for section in listed:
        resp = await c.get(f"/api/settings/{section}")
        assert resp.status_code == 200, (section, resp.text)
        body = resp.json()
        assert body["section"] == section and set(body["defaults"]) <= set(body["values"])
    debounce = (await c.get("/api/settings/debounce")).json()
    assert (
        debounce["defaults"]["quiet_seconds"] == 6.0 and debounce["values"]["quiet_seconds"] is None
    )
    hours = (await c.get("/api/settings/hours")).json()["values"]
    assert hours["timezone"] == "America/Sao_Paulo" and hours["mode"] == "dentro"
    assert set(hours["schedule"]) == {"seg", "ter", "qua", "qui", "sex", "sab", "dom"}
    handover = (await c.get("/api/settings/handover")).json()["values"]
    assert handover["timeout_minutes"] == 60.0 and handover["customer_can_resume"] is False
    assert (await c.get("/api/settings/nada")).status_code == 404


async def test_a_bad_field_is_named_and_changes_nothing(
    pool: asyncpg.Pool, owner_client: tuple[httpx.AsyncClient, str]
) -> None:
    c, tenant = owner_client
    ok = await c.patch("/api/settings/debounce", json={"quiet_seconds": 4})
    assert ok.status_code == 200 and ok.json()["values"]["quiet_seconds"] == 4
    before = await tools_of(pool, tenant)
    bad = await c.patch(
        "/api/settings/debounce",
        json={"quiet_seconds": 8, "max_wait_seconds": 9999, "flush_keywords": ["ok", ""], "x": 1},
    )
    assert bad.status_code == 422
    errors = {e["field"]: e["msg"] for e in bad.json()["detail"]}
    assert errors["max_wait_seconds"] == "max_wait_seconds: deve ser no máximo 600"
    assert "flush_keywords.1" in errors and "x" in errors
    assert errors["x"] == "x: campo desconhecido nesta seção"
    assert await tools_of(pool, tenant) == before  # quiet_seconds 8 was not written either

    # a rule across fields, on the section as it would be saved
    crossed = await c.patch("/api/settings/debounce", json={"max_wait_seconds": 2})
    assert crossed.status_code == 422
    assert crossed.json()["detail"][0]["field"] == "max_wait_seconds"
    assert await tools_of(pool, tenant) == before

    for body in (b"[1, 2]", b"{not json"):
        resp = await c.patch(
            "/api/settings/persona", content=body, headers={"content-type": "application/json"}
        )
        assert resp.status_code == 400 and resp.json()["detail"][0]["field"] == "body"
    hours = await c.patch(
        "/api/settings/hours",
        json={
            "timezone": "America/Atlantida",
            "schedule": {"seg": {"on": True, "start": "25:00", "end": "18:00"}},
            "holidays": ["2026-02-30"],
            "mode": "talvez",
        },
    )
    fields = {e["field"] for e in hours.json()["detail"]}
    assert fields == {"timezone", "schedule.seg.start", "holidays", "mode"}, hours.text


async def test_sections_write_the_keys_the_services_read(
    pool: asyncpg.Pool, settings: Settings, owner_client: tuple[httpx.AsyncClient, str]
) -> None:
    c, tenant = owner_client
    patches = {
        "persona": {"system_prompt": "Você é a Ana.", "business_type": "food", "tone": "leve"},
        "hours": {
            "timezone": "America/Manaus",
            "active": True,
            "mode": "dentro",
            "schedule": {"seg": {"on": True, "start": "09:00", "end": "17:00"}},
            "holidays": ["12-25"],
            "off_message": "Fechados agora.",
        },
        "debounce": {"quiet_seconds": 3.5, "max_wait_seconds": 20, "flush_keywords": ["URGENTE"]},
        "handover": {
            "timeout_minutes": 15,
            "resume": "after_timeout",
            "stop_words": ["encerrado"],
            "customer_can_resume": True,
            "instructions": "Passe para uma pessoa quando pedirem desconto.",
        },
        "model": {"provider": "gemini", "model": "gemini-2.5-flash", "temperature": 0.2},
    }
    for section, body in patches.items():
        resp = await c.patch(f"/api/settings/{section}", json=body)
        assert resp.status_code == 200, (section, resp.text)
        assert resp.json()["changed"] is True

    config = await PgTenantDirectory(pool, BOX).load(tenant)
    assert config is not None
    assert config.system_prompt == "Você é a Ana." and config.persona.business_type == "food"
    assert config.timezone == "America/Manaus"
    assert config.hours.active and config.hours.schedule["seg"]["start"] == "09:00"
    assert config.hours.off_message == "Fechados agora." and config.hours.holidays == ["12-25"]
    assert config.debounce is not None and config.debounce.quiet_seconds == 3.5
    assert config.debounce.flush_keywords == ("urgente",)
    assert config.handover.timeout_minutes == 15 and config.commands.customer_can_resume
    assert config.stop_triggers.triggers == ("encerrado",)
    assert config.llm.provider == "gemini" and config.llm.temperature == 0.2
    # the human-reply pause the ingest applies follows the page
    start = utcnow()
    until = human_pause_until(config.tools_config, config.human_attendant_timeout, start)
    assert until is not None and (until - start).total_seconds() == 15 * 60
    assert human_pause_until(config.tools_config, 3600, start, "atendimento encerrado") is None

    # null puts a field back to its default (the key is gone, the services' default applies)
    reset = await c.patch("/api/settings/debounce", json={"quiet_seconds": None})
    assert reset.json()["values"]["quiet_seconds"] is None
    assert "quiet_seconds" not in (await tools_of(pool, tenant))["debounce"]

    # sending the same values again records nothing
    again = await c.patch("/api/settings/debounce", json={"max_wait_seconds": 20})
    assert again.json()["changed"] is False


async def test_the_key_is_sealed_masked_kept_and_its_change_recorded(
    pool: asyncpg.Pool, owner_client: tuple[httpx.AsyncClient, str]
) -> None:
    c, tenant = owner_client
    resp = await c.patch(
        "/api/settings/model",
        json={"provider": "openai_compatible", "api_key": "sk-secreta-1", "model": "m"},
    )
    assert resp.status_code == 422  # a compatible server needs its base URL
    assert resp.json()["detail"][0]["field"] == "base_url"
    for url, reason in (
        ("http://api.example.com/v1", "https"),
        ("https://10.0.0.5/v1", "privado"),
        ("https://user:pw@api.example.com", "https"),
    ):
        bad = await c.patch("/api/settings/model", json={"base_url": url})
        assert bad.status_code == 422 and reason in bad.json()["detail"][0]["msg"], url
    resp = await c.patch(
        "/api/settings/model",
        json={
            "provider": "openai_compatible",
            "base_url": "https://openrouter.ai/api/v1",
            "api_key": "sk-secreta-1",
            "model": "openai/gpt-4o-mini",
        },
    )
    assert resp.status_code == 200, resp.text
    assert resp.json()["values"]["api_key"] == MASK and "sk-secreta" not in resp.text
    raw = (await tools_of(pool, tenant))["llm_config"]["api_key"]
    assert raw.startswith("enc:") and BOX.decrypt(raw) == "sk-secreta-1"

    # the page sends the mask back with another change: the key stays
    kept = await c.patch("/api/settings/model", json={"api_key": MASK, "temperature": 1.1})
    assert kept.status_code == 200
    raw_after = (await tools_of(pool, tenant))["llm_config"]["api_key"]
    assert BOX.decrypt(raw_after) == "sk-secreta-1"
    await c.patch("/api/settings/model", json={"api_key": "sk-secreta-2"})

    history = (await c.get("/api/settings/history?section=model")).json()["changes"]
    assert [h["secrets_changed"] for h in history] == [
        ["llm_config.api_key"],
        [],
        ["llm_config.api_key"],
    ]
    assert history[1]["changed_fields"] == ["temperature"]
    assert history[1]["before"]["temperature"] is None and history[1]["after"]["temperature"] == 1.1
    assert history[0]["changed_by_name"] == "Dona Ana" and history[0]["changed_by_role"] == "owner"
    assert "sk-secreta" not in str(history)


async def test_agents_are_refused_and_other_tenants_are_not_found(
    pool: asyncpg.Pool, redis_client: aioredis.Redis, csettings: ConsoleSettings
) -> None:
    tenant, other = await new_tenant(pool), await new_tenant(pool)
    agent = await new_user(pool, tenant, "agent")
    owner = await new_user(pool, tenant, "owner")
    operator = await new_user(pool, None, "operator", name="Op")
    app = console_app(csettings, pool, redis_client)
    async with client_for(app) as c:
        await sign_in(c, agent["email"])
        for method, path in (
            ("GET", "/api/settings/persona"),
            ("PATCH", "/api/settings/persona"),
            ("GET", "/api/settings/history"),
            ("POST", "/api/settings/model/test"),
        ):
            resp = await c.request(method, path, json={"tone": "x"})
            assert resp.status_code == 403, (method, path)
    async with client_for(app) as c:
        await sign_in(c, owner["email"])
        assert (await c.get(f"/api/settings/persona?tenant_id={other}")).status_code == 404
        resp = await c.patch(f"/api/settings/persona?tenant_id={other}", json={"tone": "x"})
        assert resp.status_code == 404
        assert (await c.patch("/api/settings/persona", json={"tone": "sério"})).status_code == 200
    async with client_for(app) as c:
        await sign_in(c, operator["email"])
        assert (await c.get("/api/settings/persona")).status_code == 422  # no tenant chosen
        resp = await c.patch(f"/api/settings/persona?tenant_id={tenant}", json={"tone": "alegre"})
        assert resp.status_code == 200
        history = (await c.get(f"/api/settings/history?tenant_id={tenant}")).json()["changes"]
        assert [(h["changed_by_role"], h["after"]["tone"]) for h in history] == [
            ("operator", "alegre"),
            ("owner", "sério"),
        ]
        other_history = await c.get(f"/api/settings/history?tenant_id={other}")
        assert other_history.json()["changes"] == []


async def test_a_change_reaches_a_services_directory_within_moments(
    pool: asyncpg.Pool, settings: Settings, owner_client: tuple[httpx.AsyncClient, str]
) -> None:
    c, tenant = owner_client
    async with PgTenantDirectory(pool, BOX, dsn=settings.database_url, retry_s=0.1) as service:
        first = await service.get(tenant)
        assert first is not None and first.debounce is None  # cached from here on
        sent = time.monotonic()
        resp = await c.patch("/api/settings/debounce", json={"quiet_seconds": 2.5})
        assert resp.status_code == 200
        while time.monotonic() - sent < PROPAGATION_S:
            config = await service.get(tenant)
            if config is not None and config.debounce is not None:
                break
            await asyncio.sleep(0.01)
        config = await service.get(tenant)
        assert config is not None and config.debounce is not None
        assert config.debounce.quiet_seconds == 2.5
        print(f"settings change seen by the directory after {time.monotonic() - sent:.3f}s")


async def test_the_key_test_calls_the_provider_and_reports_its_error_verbatim(
    owner_client: tuple[httpx.AsyncClient, str],
) -> None:
    c, _ = owner_client
    with FakeOpenAI.serve() as fake:
        saved = await c.patch(
            "/api/settings/model",
            json={
                "provider": "openai_compatible",
                "base_url": fake.base_url,
                "model": "modelo-barato",
                "api_key": "sk-do-cliente",
            },
        )
        assert saved.status_code == 200, saved.text
        ok = (await c.post("/api/settings/model/test", json={})).json()
        assert ok["ok"] is True and ok["model"] == "modelo-barato", ok
        assert fake.requests[-1]["_auth"] == "Bearer sk-do-cliente"
        assert fake.requests[-1]["max_tokens"] == 1  # one token: the cheapest real call

        fake.queue(openai_fake.error(401, "Incorrect API key provided: sk-do-c***"))
        # the form's unsaved key is tried, the masked one would be the stored one
        bad = (await c.post("/api/settings/model/test", json={"api_key": "sk-errada"})).json()
        assert bad == {
            "ok": False,
            "provider": "openai_compatible",
            "model": "modelo-barato",
            "status": 401,
            "error": "Incorrect API key provided: sk-do-c***",
            "elapsed_ms": bad["elapsed_ms"],
        }
        assert fake.requests[-1]["_auth"] == "Bearer sk-errada"
    # the test itself changed nothing
    assert (await c.get("/api/settings/model")).json()["values"]["api_key"] == MASK

    with FakeGemini.serve() as gfake:
        body = {"provider": "gemini", "base_url": gfake.url, "model": "gemini-teste"}
        saved = await c.patch("/api/settings/model", json={**body, "api_key": "AIza-cliente"})
        assert saved.status_code == 200, saved.text
        ok = (await c.post("/api/settings/model/test", json={})).json()
        assert ok["ok"] is True and gfake.requests[-1]["_key"] == "AIza-cliente"
        assert gfake.requests[-1]["generationConfig"]["maxOutputTokens"] == 1
        gfake.queue(gemini_fake.error(400, "API key not valid. Please pass a valid API key."))
        bad = (await c.post("/api/settings/model/test", json={})).json()
        assert bad["ok"] is False and bad["status"] == 400
        assert bad["error"] == "API key not valid. Please pass a valid API key."

    # nothing listens there any more: the connection error is reported, not a 500
    gone = (await c.post("/api/settings/model/test", json={})).json()
    assert gone["ok"] is False and gone["status"] is None and gone["error"]
    # a private address that TOOL_ALLOWED_HOSTS does not name is refused before any call
    refused = await c.post("/api/settings/model/test", json={"base_url": "https://192.168.0.1"})
    assert refused.status_code == 422 and refused.json()["detail"][0]["field"] == "base_url"


async def test_followups_optout_contacts_and_tools_reach_their_readers(
    pool: asyncpg.Pool, owner_client: tuple[httpx.AsyncClient, str]
) -> None:
    c, tenant = owner_client
    followups = {
        "active": True,
        "stages": [
            {"delay_minutes": 30, "instruction": "Pergunte se ficou alguma dúvida."},
            {
                "delay_minutes": 1440,
                "message": "Ainda tem interesse?",
                "template": {"name": "retomar_contato", "language": "pt_BR"},
            },
        ],
        "allowed_hours": {"enabled": True, "start": "09:00", "end": "19:00"},
    }
    resp = await c.patch("/api/settings/followups", json=followups)
    assert resp.status_code == 200, resp.text
    bad = await c.patch(
        "/api/settings/followups",
        json={"stages": [{"delay_minutes": 0}, {"delay_minutes": 5, "type": "audio"}]},
    )
    assert {e["field"] for e in bad.json()["detail"]} == {"stages.0.delay_minutes"}
    empty = await c.patch("/api/settings/followups", json={"stages": [{"delay_minutes": 5}]})
    assert [e["field"] for e in empty.json()["detail"]] == ["stages.0"]
    plan = parse_plan(
        await pool.fetchval("SELECT followup_config FROM clients WHERE id = $1", tenant)
    )
    assert plan.active and [s.delay.total_seconds() for s in plan.stages] == [1800, 86400]
    assert plan.stages[1].template == {"name": "retomar_contato", "language": "pt_BR"}
    assert plan.allowed_hours["start"] == "09:00"

    resp = await c.patch(
        "/api/settings/optout",
        json={"phrases": ["não me chame mais"], "commands": ["#sair"], "reply": "Certo, parei."},
    )
    assert resp.status_code == 200, resp.text
    resp = await c.patch(
        "/api/settings/contacts",
        json={"allowed_numbers": [], "blocked_numbers": ["+55 (11) 99999-0000"]},
    )
    assert resp.json()["values"]["blocked_numbers"] == ["5511999990000"], resp.text
    bad = await c.patch("/api/settings/contacts", json={"blocked_numbers": ["ligue-me"]})
    assert bad.status_code == 422 and bad.json()["detail"][0]["field"] == "blocked_numbers"

    tools = {
        "cep": {"active": True},
        "crm": {
            "active": True,
            "webhook_url": "https://crm.example.com/hook",
            "webhook_headers": {"Authorization": "Bearer crm-secreto"},
        },
        "custom_tools": [
            {
                "name": "consultar_pedido",
                "url": "https://api.loja.example/pedidos/{numero}",
                "headers": {"X-Api-Key": "chave-da-loja"},
                "parameters": {"type": "object", "properties": {"numero": {"type": "string"}}},
            }
        ],
        "form": {"active": True},
    }
    resp = await c.patch("/api/settings/tools", json=tools)
    assert resp.status_code == 200, resp.text
    shown = resp.json()["values"]
    assert shown["crm"]["webhook_headers"] == {"Authorization": MASK}
    assert shown["custom_tools"][0]["headers"] == {"X-Api-Key": MASK}
    assert shown["form"]["secret"] == MASK and "secreto" not in resp.text

    # the page sends the masked values back: the secrets stay
    again = await c.patch(
        "/api/settings/tools", json={"crm": shown["crm"], "custom_tools": shown["custom_tools"]}
    )
    assert again.status_code == 200, again.text
    bad = await c.patch(
        "/api/settings/tools",
        json={
            "custom_tools": [
                {"name": "lookup_cep", "url": "https://x.example"},
                {"name": "ok", "url": "https://{host}/x"},
            ],
            "crm": {"webhook_url": "http://crm.example.com"},
        },
    )
    assert {e["field"] for e in bad.json()["detail"]} == {
        "custom_tools.0.name",
        "custom_tools.1.url",
        "crm.webhook_url",
    }, bad.text

    config = await PgTenantDirectory(pool, BOX).load(tenant)
    assert config is not None
    assert config.commands.opt_out_phrases == ["não me chame mais"]
    assert parse_customer_command("não me chame mais, obrigado", config.commands) is not None
    assert config.contact_filter is not None
    assert contact_allowed(config.contact_filter, False, "5511999990000", False)[0] is False
    assert config.forms.active and config.forms.secret is not None
    toolbox = build_toolbox(config.tools_config)
    names = {s.name for s in toolbox.specs}
    assert {"lookup_cep", "consultar_pedido"} <= names and any("crm" in n for n in names)
    assert config.tools_config["crm"]["webhook_headers"] == {"Authorization": "Bearer crm-secreto"}
    assert config.tools_config["custom_tools"][0]["headers"] == {"X-Api-Key": "chave-da-loja"}
    sealed = await tools_of(pool, tenant)
    assert sealed["custom_tools"][0]["headers"]["X-Api-Key"].startswith("enc:")


async def test_the_settings_pages_render_every_section_for_owners_only(
    pool: asyncpg.Pool, redis_client: aioredis.Redis, csettings: ConsoleSettings
) -> None:
    tenant = await new_tenant(pool)
    owner = await new_user(pool, tenant, "owner", name="Dona Ana")
    agent = await new_user(pool, tenant, "agent")
    app = console_app(csettings, pool, redis_client)
    async with client_for(app) as c:
        await sign_in(c, owner["email"])
        home = await c.get("/configuracoes")
        assert home.status_code == 303 and home.headers["location"] == "/configuracoes/persona"
        await c.patch("/api/settings/model", json={"api_key": "sk-nunca-na-pagina"})
        for section in (await c.get("/api/settings")).json()["sections"]:
            page = await c.get(f"/configuracoes/{section}")
            assert page.status_code == 200, section
            assert f'data-url="/api/settings/{section}"' in page.text
            assert 'href="/configuracoes"' in page.text and "sk-nunca" not in page.text
        stage = {"delay_minutes": 90, "message": "Oi!", "template": {"name": "oi_de_novo"}}
        saved = await c.patch("/api/settings/followups", json={"stages": [stage]})
        assert saved.status_code == 200, saved.text
        followups = (await c.get("/configuracoes/followups")).text
        assert 'name="stages.0.delay_minutes"' in followups and 'value="90.0"' in followups
        assert 'value="oi_de_novo"' in followups and 'name="stages.2.delay_minutes"' in followups
        assert 'name="stages.3.delay_minutes"' not in followups  # the stage and two blank
        model = (await c.get("/configuracoes/model")).text
        assert 'id="test-key"' in model and 'value="****"' in model
        assert 'placeholder="0.4"' in model  # the deployment's default temperature
        history = await c.get("/configuracoes/historico")
        assert history.status_code == 200 and "Dona Ana" in history.text
        assert "llm_config.api_key" in history.text and "sk-nunca" not in history.text
        assert (await c.get("/configuracoes/nada")).status_code == 404
        other = await new_tenant(pool)
        assert (await c.get(f"/configuracoes/persona?tenant_id={other}")).status_code == 404
    async with client_for(app) as c:
        await sign_in(c, agent["email"])
        assert (await c.get("/configuracoes/persona")).status_code == 403
        assert 'href="/configuracoes"' not in (await c.get("/conta")).text
    operator = await new_user(pool, None, "operator")
    async with client_for(app) as c:
        await sign_in(c, operator["email"])
        chooser = await c.get("/configuracoes/persona")
        assert chooser.status_code == 303 and chooser.headers["location"] == "/clientes"
        page = await c.get(f"/configuracoes/historico?tenant_id={tenant}")
        assert page.status_code == 200 and "Dona Ana" in page.text


async def test_the_budget_is_written_as_the_rag_worker_reads_it(
    pool: asyncpg.Pool, owner_client: tuple[httpx.AsyncClient, str]
) -> None:
    c, tenant = owner_client
    empty = (await c.get("/api/settings/budget")).json()["values"]
    assert empty["soft_brl"] is None and empty["on_hard"] == "handover"
    assert not budget_of(await tools_of(pool, tenant)).active
    ok = await c.patch(
        "/api/settings/budget",
        json={
            "soft_brl": 50,
            "hard_brl": 80.5,
            "cheaper_model": "gpt-4o-mini",
            "on_hard": "offline",
        },
    )
    assert ok.status_code == 200, ok.text
    budget = budget_of(await tools_of(pool, tenant))
    assert budget.soft_brl == 50 and float(budget.hard_brl or 0) == 80.5
    assert budget.cheaper_model == "gpt-4o-mini" and budget.on_hard == "offline"
    assert budget.invalid == ()
    before = await tools_of(pool, tenant)
    crossed = await c.patch("/api/settings/budget", json={"hard_brl": 10})
    assert crossed.status_code == 422 and crossed.json()["detail"][0]["field"] == "hard_brl"
    bad = await c.patch("/api/settings/budget", json={"soft_brl": -1, "on_hard": "parar"})
    assert {e["field"] for e in bad.json()["detail"]} == {"soft_brl", "on_hard"}
    assert await tools_of(pool, tenant) == before
    # 0 (or null) is no limit
    off = await c.patch("/api/settings/budget", json={"soft_brl": 0, "hard_brl": None})
    assert off.status_code == 200 and not budget_of(await tools_of(pool, tenant)).active
