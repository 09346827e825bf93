"""The channels page (`/canais`) in headless Chromium against the console as a real process
and the fake Uazapi and LancePilot servers on loopback.

An owner adds a Uazapi instance, sees the QR code image, and watches the status turn
connected without reloading (htmx polling) once the fake's scripted delay passes; a pairing
code is shown for a typed number; LancePilot's token is stored masked and a test message
goes out. At a phone's width (390 px) the page fits. An agent gets 403.

`CONSOLE_SCREENSHOTS=docs/console` keeps PNGs of the page.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from tests.e2e import console_browser
from tests.e2e.console_browser import SHOTS, new_page, shot
from tests.e2e.stack import Stack
from tests.fakes.lancepilot import LancePilotFakeState
from tests.fakes.lancepilot import create_app as lancepilot_app
from tests.fakes.server import ServerThread
from tests.fakes.uazapi import UazapiFakeState
from tests.fakes.uazapi import create_app as uazapi_app
from wacommon.console import passwords
from wacommon.repositories import users as users_repo

PASSWORD = "senha-do-navegador-2"
ADMIN_TOKEN = "uazapi-admin-browser"
LP_TOKEN = "lp-token-browser"
OWNER_NUMBER = "5511955520000"

pytestmark = [pytest.mark.e2e, pytest.mark.browser, pytest.mark.timeout(240)]

playwright_api = console_browser.playwright_or_skip()
expect = playwright_api.expect
browser = console_browser.browser


@dataclass
class Env:
    console: str
    uaz: UazapiFakeState
    lp: LancePilotFakeState
    pool: asyncpg.Pool
    owner: str
    agent: str


@pytest.fixture(scope="module")
def fakes() -> Iterator[tuple[UazapiFakeState, str, LancePilotFakeState, str]]:
    uaz = UazapiFakeState(owner=OWNER_NUMBER)
    uaz.admin_token = ADMIN_TOKEN
    uaz.connect_delay_s = 4.0  # long enough to see the QR code, short enough to wait for
    lp = LancePilotFakeState({LP_TOKEN}, workspaces={"ws-1"})
    uaz_server = ServerThread(uazapi_app(uaz)).start()
    lp_server = ServerThread(lancepilot_app(lp)).start()
    yield uaz, uaz_server.url, lp, lp_server.url
    uaz_server.stop()
    lp_server.stop()


async def _user(pool: asyncpg.Pool, tenant: str, role: str) -> str:
    email = f"{role}-{uuid.uuid4().hex[:6]}@example.com"
    await users_repo.create_user(
        pool,
        tenant_id=tenant,
        email=email,
        name="Dona Rita" if role == "owner" else "Ana",
        role=role,
        password_hash=passwords.hash_password_sync(PASSWORD),
    )
    return email


@pytest.fixture(scope="module")
async def env(
    fakes: tuple[UazapiFakeState, str, LancePilotFakeState, str],
    test_env: dict[str, str],
    pool: asyncpg.Pool,
) -> AsyncIterator[Env]:
    uaz, uaz_url, lp, lp_url = fakes
    stack = Stack(
        {
            **test_env,
            "CONSOLE_INSECURE_COOKIES": "1",
            "UAZAPI_URL": uaz_url,
            "UAZAPI_ADMIN_TOKEN": ADMIN_TOKEN,
            "LANCEPILOT_URL": lp_url + "/api/v3",
            "TOOL_ALLOWED_HOSTS": "127.0.0.1",
            "PUBLIC_BASE_URL": "https://hooks.example.com",
        }
    )
    console = stack.add("console")
    try:
        await stack.start(console)
        tenant = str(
            await pool.fetchval("INSERT INTO clients (name) VALUES ('Loja Canais') RETURNING id")
        )
        owner = await _user(pool, tenant, "owner")
        agent = await _user(pool, tenant, "agent")
        yield Env(console.url, uaz, lp, pool, owner, agent)
    finally:
        stack.stop_all()


async def sign_in(page: Any, base: str, email: str) -> None:
    await console_browser.sign_in(page, base, email, PASSWORD)


async def test_owner_connects_uazapi_by_qr_code_and_sets_up_lancepilot(
    env: Env, browser: Any
) -> None:
    page, errors = await new_page(browser, viewport={"width": 390, "height": 844})
    await sign_in(page, env.console, env.owner)
    # a phone: "Canais" is in the bar's "Mais" menu
    await (await console_browser.nav_link(page, "Canais")).click()
    await expect(page.get_by_role("heading", name="Canais", exact=True)).to_be_visible()
    await expect(page.locator("#channel-list-empty")).to_be_visible()

    # bad input first: the field says what is wrong
    form = page.locator("#uazapi-add")
    await form.get_by_label("Nome").fill("")
    await form.get_by_role("button", name="Adicionar").click()
    await expect(page.locator("#uazapi-name-error")).to_have_text("Preencha este campo.")
    await form.get_by_label("Nome").fill("Loja Centro")
    async with page.expect_navigation():
        await form.get_by_role("button", name="Adicionar").click()
    row = page.locator("#channel-list .channel-row")
    await expect(row).to_have_count(1)
    await expect(row).to_contain_text("Loja Centro")

    panel = page.locator(".uazapi-panel").first
    await expect(panel).to_have_attribute("data-status", "disconnected")
    await panel.get_by_role("button", name="Conectar com QR code").click()
    qr = panel.get_by_role("img", name="QR code para conectar o WhatsApp")
    await expect(qr).to_be_visible()
    assert (await qr.get_attribute("src") or "").startswith("data:image/png;base64,")
    assert await qr.evaluate("img => img.naturalWidth") > 0
    await shot(page, "channels-qr-phone", full_page=True)
    if SHOTS:
        await page.screenshot(path=str(Path(SHOTS) / "channels-top-phone.png"))
    # no reload: the panel polls until the fake turns the instance connected
    connected = page.locator(".uazapi-panel[data-status='connected']")
    await expect(connected).to_be_visible()
    await expect(connected).to_contain_text(f"Número conectado: +{OWNER_NUMBER}")
    await expect(connected).to_contain_text("Recebimento de mensagens configurado.")
    token = next(t for t, i in env.uaz.instances.items() if i.name == "Loja Centro")
    assert env.uaz.webhooks[token]["url"].startswith("https://hooks.example.com/uazapi/webhook/")
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the page is {width}px wide at a 390px viewport"

    # LancePilot: a wrong token is refused on its field, the right one stored masked
    lp = page.locator("#lancepilot-save")
    await lp.get_by_label("Token da API").fill("token-errado")
    await lp.get_by_label("Workspace").fill("ws-1")
    await lp.get_by_role("button", name="Salvar").click()
    await expect(page.locator("#lp-token-error")).to_contain_text("recusou o token")
    await lp.get_by_label("Token da API").fill(LP_TOKEN)
    async with page.expect_navigation():
        await lp.get_by_role("button", name="Salvar").click()
    await expect(page.get_by_label("Token da API")).to_have_value("****")
    hook = page.get_by_label("Endereço do webhook (cole na LancePilot)")
    await expect(hook).to_have_value(
        re.compile(r"^https://hooks\.example\.com/lancepilot/webhook/")
    )
    test = page.locator("#lancepilot-test")
    await test.get_by_label("Para o número").fill("5511988887777")
    await test.get_by_role("button", name="Enviar mensagem de teste").click()
    await expect(test.locator("[data-form-ok]")).to_be_visible()
    sent = env.lp.sent("/api/v3/workspaces/ws-1/contacts/number/5511988887777/messages/text")
    assert len(sent) == 1
    await expect(page.locator("#channel-list .channel-row")).to_have_count(2)
    await shot(page, "channels-phone", full_page=True)
    assert LP_TOKEN not in await page.content() and token not in await page.content()

    # disconnect, then a pairing code for a typed number
    page.once("dialog", lambda dialog: dialog.accept())
    await connected.get_by_role("button", name="Desconectar").click()
    panel = page.locator(".uazapi-panel").first
    await expect(panel).to_have_attribute("data-status", "disconnected")
    await panel.get_by_label("Número do WhatsApp (com DDI e DDD)").fill("12")
    await panel.get_by_role("button", name="Conectar com código").click()
    await expect(page.locator(".uazapi-panel .field-error")).to_contain_text("DDI")
    panel = page.locator(".uazapi-panel").first
    await panel.get_by_label("Número do WhatsApp (com DDI e DDD)").fill("5511999998888")
    await panel.get_by_role("button", name="Conectar com código").click()
    await expect(page.locator("[data-paircode]")).to_have_text(
        re.compile(r"^[0-9A-F]{4}-[0-9A-F]{4}$")
    )
    await expect(page.locator(".uazapi-panel[data-status='connected']")).to_be_visible()
    await page.set_viewport_size({"width": 1280, "height": 900})
    await shot(page, "channels", full_page=True)
    assert errors == []


async def test_agent_gets_403_on_the_channels_page(env: Env, browser: Any) -> None:
    page, errors = await new_page(browser)
    await sign_in(page, env.console, env.agent)
    nav = page.get_by_role("navigation", name="Menu principal")
    await expect(nav.get_by_role("link", name="Canais")).to_have_count(0)
    resp = await page.goto(f"{env.console}/canais")
    assert resp is not None and resp.status == 403
    await expect(page.get_by_role("heading", name="Acesso não permitido")).to_be_visible()
    assert errors == []
