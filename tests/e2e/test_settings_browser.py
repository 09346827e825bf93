"""The bot settings pages in headless Chromium against the console as a real process.

An owner saves a section and sees it saved (and kept on reload), sees a refused field's
reason next to the field, tests an AI key against the fake OpenAI server (success, then
the provider's refusal word for word), and reads the history; an agent gets the 403 page;
a phone-sized viewport shows the week grid without sideways scrolling.

`CONSOLE_SCREENSHOTS=docs/console` keeps PNGs of the pages.
"""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import asyncpg
import pytest

from tests.e2e.console_browser import CHROMIUM, chromium, screenshot
from tests.e2e.stack import Stack
from tests.fakes import openai_server
from tests.fakes.openai_server import FakeOpenAI
from tests.integration.console_helpers import new_user
from wacommon.conversation.followups import parse_plan

PASSWORD = "senha-das-configuracoes-1"
WAIT_MS = 20_000

pytestmark = [pytest.mark.e2e, pytest.mark.browser, pytest.mark.timeout(300)]

if not os.path.exists(CHROMIUM):
    pytest.skip(f"{CHROMIUM} not found (apt-get install -y chromium)", allow_module_level=True)
playwright_api = pytest.importorskip("playwright.async_api", reason="playwright not installed")
expect = playwright_api.expect
expect.set_options(timeout=WAIT_MS)


@dataclass
class Env:
    console: str
    pool: asyncpg.Pool
    tenant: str
    owner: str
    agent: str
    fake: FakeOpenAI


@pytest.fixture(scope="module")
def fake_openai() -> Iterator[FakeOpenAI]:
    with FakeOpenAI.serve() as fake:
        yield fake


async def _user(pool: asyncpg.Pool, tenant: str, role: str, name: str) -> str:
    return str((await new_user(pool, tenant, role, password=PASSWORD, name=name))["email"])


@pytest.fixture(scope="module")
async def env(
    test_env: dict[str, str], pool: asyncpg.Pool, fake_openai: FakeOpenAI
) -> AsyncIterator[Env]:
    stack = Stack({**test_env, "CONSOLE_INSECURE_COOKIES": "1", "TOOL_ALLOWED_HOSTS": "127.0.0.1"})
    console = stack.add("console")
    try:
        await stack.start(console)
        tenant = str(
            await pool.fetchval(
                "INSERT INTO clients (name) VALUES ('Pizzaria Configurada') RETURNING id"
            )
        )
        owner = await _user(pool, tenant, "owner", "Dona Marta")
        agent = await _user(pool, tenant, "agent", "Ana Atendente")
        yield Env(console.url, pool, tenant, owner, agent, fake_openai)
    finally:
        stack.stop_all()


@pytest.fixture()
async def browser() -> AsyncIterator[Any]:
    async with chromium(playwright_api) as b:
        yield b


async def signed_in(browser: Any, env: Env, email: str, **options: Any) -> tuple[Any, list[str]]:
    context = await browser.new_context(locale="pt-BR", **options)
    page = await context.new_page()
    page.set_default_timeout(WAIT_MS)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    await page.goto(f"{env.console}/login")
    await page.get_by_label("E-mail").fill(email)
    await page.get_by_label("Senha").fill(PASSWORD)
    await page.get_by_role("button", name="Entrar").click()
    await page.wait_for_url(re.compile(r".*/inbox.*"))
    return page, errors


async def test_owner_saves_a_section_and_it_stays_saved(env: Env, browser: Any) -> None:
    page, errors = await signed_in(browser, env, env.owner)
    await page.get_by_role("link", name="Ajustes").click()
    await page.wait_for_url(re.compile(r".*/configuracoes/persona$"))
    await expect(page.get_by_role("heading", name="Persona")).to_be_visible()
    await page.get_by_label("Instruções (prompt do sistema)").fill("Você é a Marta, da pizzaria.")
    await page.get_by_label("Ramo do negócio").select_option("food")
    await page.get_by_label("Tom das respostas").fill("simpático e direto")
    await page.get_by_role("button", name="Salvar").click()
    await expect(page.locator("[data-form-ok]")).to_be_visible()
    await screenshot(page, "settings-persona")
    await page.reload()
    await expect(page.get_by_label("Tom das respostas")).to_have_value("simpático e direto")
    await expect(page.get_by_label("Ramo do negócio")).to_have_value("food")
    row = await env.pool.fetchrow(
        "SELECT system_prompt, tools_config FROM clients WHERE id = $1", env.tenant
    )
    assert row["system_prompt"] == "Você é a Marta, da pizzaria."
    assert row["tools_config"]["persona"]["tone"] == "simpático e direto"

    # the weekly schedule: a day switched on with its hours, read back on reload
    await page.get_by_role("link", name="Horário").click()
    await page.get_by_label("Usar horário de atendimento").check()
    await page.locator('[name="schedule.sab.on"]').check()
    await page.locator('[name="schedule.sab.start"]').fill("09:00")
    await page.locator('[name="schedule.sab.end"]').fill("13:00")
    await page.get_by_label("Mensagem fora do horário").fill("Abrimos às 9h.")
    await page.get_by_role("button", name="Salvar").click()
    await expect(page.locator("[data-form-ok]")).to_be_visible()
    await page.reload()
    await expect(page.locator('[name="schedule.sab.start"]')).to_have_value("09:00")
    hours = (await env.pool.fetchval("SELECT tools_config FROM clients WHERE id = $1", env.tenant))[
        "business_hours"
    ]
    assert hours["active"] is True and hours["schedule"]["sab"] == {
        "on": True,
        "start": "09:00",
        "end": "13:00",
    }
    assert errors == []


async def test_a_refused_field_shows_its_reason_and_saves_nothing(env: Env, browser: Any) -> None:
    page, errors = await signed_in(browser, env, env.owner)
    await page.goto(f"{env.console}/configuracoes/debounce")
    before = await env.pool.fetchval("SELECT tools_config FROM clients WHERE id = $1", env.tenant)
    await page.get_by_label("Silêncio antes de responder (segundos)").fill("3")
    await page.get_by_label("Espera máxima (segundos)").fill("9999")
    await page.get_by_role("button", name="Salvar").click()
    error = page.locator("#f-max_wait_seconds-error")
    await expect(error).to_have_text("max_wait_seconds: deve ser no máximo 600")
    await expect(page.get_by_label("Espera máxima (segundos)")).to_have_attribute(
        "aria-invalid", "true"
    )
    await expect(page.locator("[data-form-ok]")).to_be_hidden()
    await screenshot(page, "settings-field-error")
    after = await env.pool.fetchval("SELECT tools_config FROM clients WHERE id = $1", env.tenant)
    assert after == before  # the good field (quiet 3 s) was not saved either

    # JSON that does not parse is caught in the page, named by its field
    await page.goto(f"{env.console}/configuracoes/followups")
    await page.get_by_label("Modelo de lembrete (JSON)").fill('{"name": "lembrete",')
    await page.get_by_role("button", name="Salvar").click()
    await expect(page.locator("#f-reminder_template-error")).to_contain_text("JSON inválido")
    await page.get_by_label("Modelo de lembrete (JSON)").fill("")
    # a stage refused by the API: the reason under that stage's field
    stage = page.locator("fieldset.stage").first
    await stage.get_by_label("Depois de quantos minutos sem resposta").fill("0")
    await stage.get_by_label("Mensagem fixa").fill("Oi, ainda posso ajudar?")
    await page.get_by_role("button", name="Salvar").click()
    await expect(page.locator("#st-0-delay-error")).to_have_text(
        "stages.0.delay_minutes: deve ser no mínimo 1"
    )
    # fixed, with a template for outside the 24-h window: saved as the follow-up service reads it
    await stage.get_by_label("Depois de quantos minutos sem resposta").fill("45")
    await stage.get_by_label("Modelo aprovado para fora da janela de 24 h (nome)").fill(
        "retomar_contato"
    )
    await page.get_by_label("Enviar follow-ups").check()
    await page.get_by_role("button", name="Salvar").click()
    await expect(page.locator("[data-form-ok]")).to_be_visible()
    plan = parse_plan(
        await env.pool.fetchval("SELECT followup_config FROM clients WHERE id = $1", env.tenant)
    )
    assert plan.active and len(plan.stages) == 1
    assert plan.stages[0].delay.total_seconds() == 45 * 60
    assert plan.stages[0].message == "Oi, ainda posso ajudar?"
    assert plan.stages[0].template == {"name": "retomar_contato", "language": "pt_BR"}
    await page.reload()
    await expect(page.locator("fieldset.stage")).to_have_count(3)  # the stage and 2 blank
    await screenshot(page, "settings-followups")
    assert errors == []


async def test_the_key_test_reports_success_and_the_providers_refusal(
    env: Env, browser: Any
) -> None:
    page, errors = await signed_in(browser, env, env.owner)
    await page.goto(f"{env.console}/configuracoes/model")
    await page.get_by_label("Provedor").select_option("openai_compatible")
    await page.get_by_label("Modelo", exact=True).fill("modelo-barato")
    await page.get_by_label("URL da API").fill(env.fake.base_url)
    await page.get_by_label("Chave da API").fill("sk-do-navegador")
    await page.get_by_role("button", name="Testar a chave").click()
    result = page.locator("#test-result")
    await expect(result).to_contain_text("A chave funciona: openai_compatible / modelo-barato")
    assert env.fake.requests[-1]["_auth"] == "Bearer sk-do-navegador"
    await page.get_by_role("button", name="Salvar").click()
    await expect(page.locator("[data-form-ok]")).to_be_visible()
    await page.reload()
    await expect(page.get_by_label("Chave da API")).to_have_value("****")

    env.fake.queue(openai_server.error(401, "Incorrect API key provided: sk-do-n***"))
    await page.get_by_role("button", name="Testar a chave").click()
    await expect(result).to_have_text(
        "O provedor recusou: 401 Incorrect API key provided: sk-do-n***"
    )
    await expect(result).to_have_class(re.compile(r"\bbad\b"))
    # the masked key was sent back: the stored one was used
    assert env.fake.requests[-1]["_auth"] == "Bearer sk-do-navegador"
    await screenshot(page, "settings-model")

    await page.get_by_role("link", name="Histórico").click()
    await expect(page.locator(".change").first).to_contain_text("Modelo de IA")
    await expect(page.locator(".change").first).to_contain_text("llm_config.api_key")
    assert "sk-do-navegador" not in await page.content()
    await screenshot(page, "settings-history")
    assert errors == []


async def test_an_agent_gets_403_and_no_settings_link(env: Env, browser: Any) -> None:
    page, _ = await signed_in(browser, env, env.agent)
    await expect(page.get_by_role("link", name="Ajustes")).to_have_count(0)
    resp = await page.goto(f"{env.console}/configuracoes/persona")
    assert resp is not None and resp.status == 403
    await expect(page.get_by_role("heading", name="Acesso não permitido")).to_be_visible()


async def test_the_pages_fit_a_phone(env: Env, browser: Any) -> None:
    page, errors = await signed_in(
        browser, env, env.owner, viewport={"width": 390, "height": 844}, is_mobile=True
    )
    for section in ("hours", "tools", "model"):
        await page.goto(f"{env.console}/configuracoes/{section}")
        width = await page.evaluate("document.documentElement.scrollWidth")
        if width > 390:
            await screenshot(page, f"settings-{section}-overflow")
        assert width <= 390, (section, width)
    await page.goto(f"{env.console}/configuracoes/hours")
    await screenshot(page, "settings-hours-phone")
    assert errors == []
