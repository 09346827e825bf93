"""The WhatsApp (Meta) channel page in headless Chromium, on a phone-sized screen, against
the console as a real process and the sandbox Graph (`walocal.graph_admin`, as `make run`
serves it). No META_APP_ID: the button runs the offline imitation of Embedded Signup.

The owner connects a number through the imitation popup, is told a 5-digit PIN is wrong,
registers with a good one, fills the business profile, writes a template watching the
preview and sees it listed as in review; an agent gets the 403 page.

`CONSOLE_SCREENSHOTS=<folder>` keeps PNGs of the page (phone and desktop).
"""

from __future__ import annotations

import random
import re
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import asyncpg
import pytest
from aio_pika.abc import AbstractRobustConnection

from tests.e2e.console_browser import chromium, console_user, new_page, playwright_or_skip, shot
from tests.e2e.console_browser import sign_in as browser_sign_in
from tests.e2e.stack import Stack
from tests.fakes.server import ServerThread
from walocal.graph_admin import combined_graph_app, sandbox_states
from walocal.graph_admin_state import GraphAdminState

PASSWORD = "senha-do-navegador-1"
PHONE = {"width": 390, "height": 844}

pytestmark = [pytest.mark.e2e, pytest.mark.browser, pytest.mark.timeout(240)]

playwright_api = playwright_or_skip()
expect = playwright_api.expect


@dataclass
class Env:
    console: str
    graph: GraphAdminState
    owner: str
    agent: str


@pytest.fixture(scope="module")
def graph() -> Iterator[tuple[GraphAdminState, str]]:
    admin, sends = sandbox_states({}, accept_any_token=True, demo=None)
    server = ServerThread(combined_graph_app(admin, sends)).start()
    yield admin, server.url
    server.stop()


@pytest.fixture(scope="module")
async def env(
    graph: tuple[GraphAdminState, str],
    test_env: dict[str, str],
    pool: asyncpg.Pool,
    amqp: AbstractRobustConnection,
) -> AsyncIterator[Env]:
    admin, url = graph
    # no META_APP_ID: the sandbox imitation, as in `make run`
    env = {k: v for k, v in test_env.items() if k != "META_APP_ID"}
    stack = Stack({**env, "META_GRAPH_URL": url, "CONSOLE_INSECURE_COOKIES": "1"})
    console = stack.add("console")
    try:
        await stack.start(console)
        tenant = str(
            await pool.fetchval("INSERT INTO clients (name) VALUES ('Padaria do Zé') RETURNING id")
        )
        yield Env(
            console.url,
            admin,
            await console_user(pool, tenant, "owner"),
            await console_user(pool, tenant, "agent"),
        )
    finally:
        stack.stop_all()


@pytest.fixture()
async def browser() -> AsyncIterator[Any]:
    async with chromium(playwright_api) as b:
        yield b


async def sign_in(page: Any, base: str, email: str) -> None:
    await browser_sign_in(page, base, email, PASSWORD)


async def test_owner_connects_registers_and_writes_a_template_on_a_phone(
    env: Env, browser: Any
) -> None:
    page, errors = await new_page(
        browser, accept_dialogs=True, viewport=PHONE, has_touch=True, is_mobile=True
    )
    await sign_in(page, env.console, env.owner)
    await page.goto(f"{env.console}/conta")
    await page.get_by_role("link", name="WhatsApp (Meta)").click()
    await page.wait_for_url(re.compile(r".*/canais/meta$"))
    await expect(page.get_by_role("heading", name="WhatsApp (Meta)", level=1)).to_be_visible()
    await expect(page.locator("#no-numbers")).to_be_visible()
    await shot(page, "channels-meta-empty-phone", full_page=True)

    # the imitation of Facebook's popup, then the number appears
    display = f"55119{random.randrange(10**8):08d}"
    await page.get_by_role("button", name="Conectar com o Facebook").click()
    dialog = page.locator("#fb-imitation")
    await expect(dialog).to_be_visible()
    await page.get_by_label("Nome da empresa").fill("Padaria do Zé")
    await page.get_by_label("Número (opcional, formato internacional)").fill(display)
    await shot(page, "channels-meta-imitation-phone", full_page=True)
    await page.get_by_role("button", name="Concluir").click()
    number = page.locator("article.meta-number")
    await expect(number.get_by_role("heading", name=display)).to_be_visible()
    await expect(number.locator("[data-registered='no']")).to_have_text("Aguardando registro")
    assert len(env.graph.calls("/oauth/access_token")) == 1

    # a PIN of five digits is refused under its field; six digits register the number
    await number.get_by_label("PIN de 6 dígitos").fill("12345")
    await number.get_by_role("button", name="Registrar número").click()
    pin_error = number.locator("[data-error-for='pin']")
    await expect(pin_error).to_contain_text("exatamente 6 dígitos")
    await expect(number.get_by_label("PIN de 6 dígitos")).to_have_attribute("aria-invalid", "true")
    await shot(page, "channels-meta-pin-error-phone", full_page=True)
    assert not env.graph.calls("/register")
    await number.get_by_label("PIN de 6 dígitos").fill("246810")
    await number.get_by_role("button", name="Registrar número").click()
    await expect(number.locator("[data-registered='yes']")).to_have_text("Registrado")
    assert env.graph.calls("/register")[-1].json == {
        "messaging_product": "whatsapp",
        "pin": "246810",
    }

    # the business profile
    await number.locator(".profile-part > summary").click()
    await number.get_by_label("Recado (sobre)").fill("Pão quentinho toda hora")
    await number.get_by_label("E-mail").fill("isto não é e-mail")
    await number.get_by_role("button", name="Salvar perfil").click()
    await expect(number.locator(".profile-form [data-error-for='email']")).to_contain_text(
        "e-mail inválido"
    )
    await number.get_by_label("E-mail").fill("contato@padaria.com.br")
    await number.locator(".profile-form").get_by_label("Categoria").select_option("RESTAURANT")
    await number.get_by_role("button", name="Salvar perfil").click()
    await expect(number.locator(".profile-form [data-form-ok]")).to_be_visible()
    saved = [r for r in env.graph.calls("/whatsapp_business_profile") if r.method == "POST"]
    assert saved[-1].json["about"] == "Pão quentinho toda hora"

    # a template: the preview fills the variables with the examples, the list shows its status
    await expect(number.locator(".template-list")).to_contain_text("Nenhum modelo ainda.")
    form = number.locator("form.template-create")
    await form.get_by_label("Nome do modelo").fill("pedido_saiu")
    await form.get_by_label("Texto da mensagem").fill("Olá {{1}}, seu pedido {{2}} saiu!")
    await form.get_by_label("Exemplos das variáveis").fill("Maria, 1234")
    await form.get_by_label("Rodapé (opcional)").fill("Padaria do Zé")
    preview = form.locator(".preview-body")
    await expect(preview).to_have_text("Olá Maria, seu pedido 1234 saiu!")
    await expect(form.locator(".preview-footer")).to_have_text("Padaria do Zé")
    await shot(page, "channels-meta-template-preview-phone", full_page=True)
    await form.get_by_role("button", name="Enviar para análise").click()
    row = number.locator(".template-row[data-template-name='pedido_saiu']")
    await expect(row.locator(".template-status")).to_have_text("Em análise")
    await expect(row.locator(".template-status")).to_have_attribute("data-status", "PENDING")
    # Meta's refusal of a second one with the same name is shown with its words
    await form.get_by_label("Nome do modelo").fill("pedido_saiu")
    await form.get_by_label("Texto da mensagem").fill("Outro texto")
    await form.get_by_role("button", name="Enviar para análise").click()
    await expect(form.locator("[data-form-error]")).to_contain_text("already exists")
    # and a bad name is refused under its field before Meta sees it
    await form.get_by_label("Nome do modelo").fill("Nome Com Espaço")
    await form.get_by_role("button", name="Enviar para análise").click()
    await expect(form.locator("[data-error-for='name']")).to_contain_text("letras minúsculas")
    await shot(page, "channels-meta-templates-phone", full_page=True)

    # nothing wider than the phone's screen
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], width

    await row.get_by_role("button", name="Excluir").click()
    await expect(row).to_have_count(0)
    assert errors == []


async def test_owner_page_on_a_desktop_links_from_the_bar(env: Env, browser: Any) -> None:
    page, errors = await new_page(browser, viewport={"width": 1280, "height": 900})
    await sign_in(page, env.console, env.owner)
    await page.get_by_role("navigation").get_by_role("link", name="WhatsApp (Meta)").click()
    await page.wait_for_url(re.compile(r".*/canais/meta$"))
    await expect(page.locator(".note-sandbox")).to_contain_text("imitação local")
    await shot(page, "channels-meta-desktop", full_page=True)
    assert errors == []


async def test_agent_gets_the_403_page(env: Env, browser: Any) -> None:
    page, _ = await new_page(browser, viewport=PHONE)
    await sign_in(page, env.console, env.agent)
    resp = await page.goto(f"{env.console}/canais/meta")
    assert resp is not None and resp.status == 403
    await expect(page.get_by_role("heading", name="Acesso não permitido")).to_be_visible()
    await expect(page.get_by_role("link", name="WhatsApp (Meta)")).to_have_count(0)
