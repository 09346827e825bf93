"""The console in headless Chromium against the services as real processes.

Meta gateway, ingest, rag-worker, sender and the console run as processes on the run's
database and broker; the Graph API is the fake on loopback. The browser signs in, watches
a conversation arrive without reloading, answers it and sees the ticks move to delivered
when Meta's status webhook comes; an agent cannot open the team page; a phone-sized
viewport shows the list or the thread.

`CONSOLE_SCREENSHOTS=docs/console` keeps PNGs of the main pages (for the README).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import asyncpg
import httpx
import pytest
from aio_pika.abc import AbstractRobustConnection

from tests.e2e import console_browser
from tests.e2e.console_browser import new_page, shot
from tests.e2e.stack import (
    SHORT_SEND_WINDOW,
    Service,
    Stack,
    eventually,
    meta_status,
    meta_text,
    signed,
    wait_ready,
)
from tests.fakes.server import ServerThread
from wacommon.console import passwords
from wacommon.repositories import users as users_repo
from walocal.graph_admin import combined_graph_app
from walocal.graph_admin_state import GraphAdminState
from walocal.graph_state import GraphState

SECRET = "test-app-secret"
AUTH = {"Authorization": "Bearer test-admin-token"}
# numbers of their own: another test module registering the same phone id would get our webhooks
PHONE_ID, DISPLAY, TOKEN = "551000551000551", "5511955510000", "EAAtokenP0000000000000000005"
WABA = "552000552000552"
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360f8cfc0f01f0005000201a3b1e35b0000000049454e44ae426082"
)
PASSWORD = "senha-do-navegador-1"

pytestmark = [pytest.mark.e2e, pytest.mark.browser, pytest.mark.timeout(300)]

playwright_api = console_browser.playwright_or_skip()
expect = playwright_api.expect
browser = console_browser.browser


@dataclass
class Env:
    console: str
    gateway: httpx.AsyncClient
    graph: GraphState
    pool: asyncpg.Pool
    tenant: str
    owner: str
    agent: str
    service: Service


@pytest.fixture(scope="module")
def graph() -> Iterator[tuple[GraphState, str]]:
    state = GraphState(tokens={PHONE_ID: TOKEN})
    admin = GraphAdminState()
    admin.add_waba(WABA, {PHONE_ID: DISPLAY})
    admin.add_token(TOKEN, WABA)
    admin.wabas[WABA].templates.append(
        {
            "id": "1",
            "name": "retomar_contato",
            "status": "APPROVED",
            "category": "UTILITY",
            "language": "pt_BR",
            "components": [{"type": "BODY", "text": "Olá {{1}}, podemos continuar?"}],
        }
    )
    server = ServerThread(combined_graph_app(admin, state)).start()
    yield state, server.url
    server.stop()


async def _user(pool: asyncpg.Pool, tenant: str, role: str, email: str, name: str) -> str:
    await users_repo.create_user(
        pool,
        tenant_id=tenant,
        email=email,
        name=name,
        role=role,
        password_hash=passwords.hash_password_sync(PASSWORD),
    )
    return email


@pytest.fixture(scope="module")
async def env(
    graph: tuple[GraphState, str],
    test_env: dict[str, str],
    pool: asyncpg.Pool,
    amqp: AbstractRobustConnection,
) -> AsyncIterator[Env]:
    state, url = graph
    stack = Stack(
        {
            **test_env,
            "META_GRAPH_URL": url,
            **SHORT_SEND_WINDOW,
            "CONSOLE_INSECURE_COOKIES": "1",
            "CONSOLE_LOGIN_MAX_PER_EMAIL": "3",
        }
    )
    names = ("meta-gateway", "lancepilot-ingest", "rag-worker", "sender", "console")
    services = {n: stack.add(n) for n in names}
    try:
        await stack.start(*services.values())
        async with httpx.AsyncClient(base_url=services["meta-gateway"].url, timeout=10) as http:
            resp = await http.post(
                "/admin/clients",
                headers=AUTH,
                json={
                    "name": "Loja do Navegador",
                    "tools_config": {"debounce": {"quiet_seconds": 0}},
                },
            )
            assert resp.status_code == 201, resp.text
            tenant = resp.json()["id"]
            resp = await http.post(
                f"/admin/clients/{tenant}/providers",
                headers=AUTH,
                json={
                    "provider_type": "meta",
                    "is_default": True,
                    "config": {
                        "phone_id": PHONE_ID,
                        "display_phone_number": DISPLAY,
                        "access_token": TOKEN,
                        "waba_id": WABA,
                    },
                },
            )
            assert resp.status_code == 201, resp.text
            tag = uuid.uuid4().hex[:6]
            owner = await _user(pool, tenant, "owner", f"dona-{tag}@example.com", "Dona Marta")
            agent = await _user(pool, tenant, "agent", f"ana-{tag}@example.com", "Ana Atendente")
            yield Env(
                services["console"].url,
                http,
                state,
                pool,
                tenant,
                owner,
                agent,
                services["console"],
            )
    finally:
        stack.stop_all()


async def sign_in(page: Any, base: str, email: str, password: str = PASSWORD) -> None:
    await console_browser.sign_in(page, base, email, password)


async def live(page: Any) -> None:
    """Wait until the page's event stream is connected (so nothing happens before it)."""
    await expect(page.locator("body[data-stream='open']")).to_have_count(1)


async def webhook(env: Env, body: dict[str, Any]) -> None:
    raw, headers = signed(body, SECRET)
    resp = await env.gateway.post("/meta/webhook", content=raw, headers=headers)
    assert resp.status_code == 200, resp.text


def customer() -> str:
    return "55119" + str(uuid.uuid4().int)[:8]


async def test_sign_in_shows_errors_per_field_and_the_throttle_wait(env: Env, browser: Any) -> None:
    page, errors = await new_page(browser)
    await page.goto(f"{env.console}/login")
    await expect(page.locator("html")).to_have_attribute("lang", "pt-BR")
    await shot(page, "login")
    await page.get_by_role("button", name="Entrar").click()
    await expect(page.locator("#login-email-error")).to_have_text("Preencha este campo.")
    await expect(page.locator("#login-password-error")).to_have_text("Preencha este campo.")
    await expect(page.get_by_label("E-mail")).to_have_attribute("aria-invalid", "true")

    victim = f"ninguem-{uuid.uuid4().hex[:6]}@example.com"
    alert = page.locator("#login-form [data-form-error]")
    for _ in range(3):
        await page.get_by_label("E-mail").fill(victim)
        await page.get_by_label("Senha").fill("senha-errada-123")
        await page.get_by_role("button", name="Entrar").click()
        await expect(alert).to_be_visible()
        await expect(alert).to_contain_text(re.compile("incorretos|tente novamente", re.I))
    await page.get_by_role("button", name="Entrar").click()
    await expect(alert).to_have_text(
        re.compile(r"Muitas tentativas\. Tente de novo em \d+ segundos\.")
    )
    assert page.url.endswith("/login")
    assert errors == []


async def test_agent_sees_only_the_inbox_and_gets_403_on_equipe(env: Env, browser: Any) -> None:
    page, errors = await new_page(browser)
    await sign_in(page, env.console, env.agent)
    nav = page.get_by_role("navigation", name="Menu principal")
    await expect(nav.get_by_role("link", name="Conversas")).to_be_visible()
    await expect(nav.get_by_role("link", name="Equipe")).to_have_count(0)
    resp = await page.goto(f"{env.console}/equipe")
    assert resp is not None and resp.status == 403
    await expect(page.get_by_role("heading", name="Acesso não permitido")).to_be_visible()
    await expect(page.get_by_role("link", name="Voltar para as conversas")).to_be_visible()
    assert errors == []


async def test_owner_manages_the_team_and_own_account(env: Env, browser: Any) -> None:
    page, errors = await new_page(browser, viewport={"width": 1280, "height": 800})
    await sign_in(page, env.console, env.owner)
    await (
        page.get_by_role("navigation", name="Menu principal")
        .get_by_role("link", name="Equipe")
        .click()
    )
    await expect(page.get_by_role("heading", name="Equipe", exact=True)).to_be_visible()
    rows = page.locator("#user-list .user-row")
    await expect(rows).to_have_count(2)
    email = f"novo-{uuid.uuid4().hex[:6]}@example.com"
    form = page.locator("#add-user")
    await form.get_by_label("Nome").fill("Beto Novo")
    await form.get_by_label("E-mail").fill(email)
    await form.get_by_label("Senha inicial").fill("curta")
    await form.get_by_role("button", name="Adicionar").click()
    await expect(page.locator("#new-password-error")).to_have_text(
        "A senha precisa de pelo menos 10 caracteres."
    )
    await form.get_by_label("Senha inicial").fill("uma-senha-boa-123")
    await form.get_by_role("button", name="Adicionar").click()
    await expect(page.locator(f"#user-list .user-row[data-email='{email}']")).to_be_visible()
    await shot(page, "team", full_page=True)

    # a new password for Beto, then Beto is deactivated (after a confirmation)
    beto = page.locator(f"#user-list .user-row[data-email='{email}']")
    await beto.locator("summary", has_text="Nova senha").click()
    await beto.get_by_label("Nova senha (mínimo 10 caracteres)").fill("outra-senha-boa-456")
    async with page.expect_navigation():  # saved: the page reloads the list
        await beto.get_by_role("button", name="Salvar senha").click()
    async with httpx.AsyncClient(base_url=env.console) as client:
        fresh = await client.post(
            "/api/auth/login", json={"email": email, "password": "outra-senha-boa-456"}
        )
        assert fresh.status_code == 200, fresh.text
    page.once("dialog", lambda dialog: dialog.accept())
    beto = page.locator(f"#user-list .user-row[data-email='{email}']")
    await beto.get_by_role("button", name="Desativar").click()
    await expect(beto.get_by_text("Desativado")).to_be_visible()
    await expect(beto.get_by_role("button", name="Reativar")).to_be_visible()
    active = await env.pool.fetchval(
        "SELECT is_active FROM console_users WHERE lower(email) = $1", email
    )
    assert active is False

    await page.get_by_role("link", name="Minha conta").click()
    await page.get_by_label("Seu WhatsApp para avisos de atendimento").fill("+55 11 98888-7777")
    await page.get_by_role("button", name="Salvar", exact=True).click()
    await expect(page.get_by_label("Seu WhatsApp para avisos de atendimento")).to_have_value(
        "5511988887777"
    )
    stored = await env.pool.fetchval(
        "SELECT alert_whatsapp FROM console_users WHERE lower(email) = lower($1)", env.owner
    )
    assert stored == "5511988887777"
    assert errors == []


async def test_a_conversation_arrives_live_and_the_reply_ticks_to_delivered(
    env: Env, browser: Any
) -> None:
    page, errors = await new_page(browser, viewport={"width": 1280, "height": 800})
    await sign_in(page, env.console, env.agent)
    await live(page)
    await page.get_by_role("radio", name="Todas").check()

    phone = customer()
    await webhook(
        env, meta_text(PHONE_ID, DISPLAY, phone, "Oi, quero falar com alguém", name="Joana Cliente")
    )
    item = page.locator(".conv", has_text="Joana Cliente")
    await expect(item).to_be_visible()  # no reload: the stream made the list refetch
    await shot(page, "inbox")

    await item.get_by_role("link").click()
    thread = page.locator(".thread")
    await expect(thread.get_by_role("heading", name="Joana Cliente")).to_be_visible()
    await expect(thread.locator(".msg.in", has_text="Oi, quero falar com alguém")).to_be_visible()
    assert "/inbox/" in page.url

    text = f"Olá Joana, aqui é a Ana {uuid.uuid4().hex[:4]}"
    await page.get_by_label("Sua resposta").fill(text)
    await page.get_by_role("button", name="Enviar", exact=True).click()
    mine = thread.locator(".msg.out.author-human", has_text=text)
    await expect(mine).to_be_visible()
    await expect(mine).to_have_attribute("data-status", "sent")
    await expect(page.get_by_label("Sua resposta")).to_have_value("")

    async def sent_to_graph() -> list[Any]:
        return [
            m for m in env.graph.sent_messages(to=phone) if text in str((m.json or {}).get("text"))
        ]

    sent = await eventually(sent_to_graph)
    assert len(sent) == 1
    await webhook(env, meta_status(PHONE_ID, DISPLAY, sent[0].response_id, "delivered", phone))
    await expect(mine).to_have_attribute("data-status", "delivered")
    await expect(mine.locator(".ticks.delivered")).to_be_visible()
    await shot(page, "thread")
    assert errors == []


async def test_phone_viewport_shows_the_list_or_the_thread(env: Env, browser: Any) -> None:
    phone = customer()
    await webhook(
        env, meta_text(PHONE_ID, DISPLAY, phone, "Vocês abrem sábado?", name="Caio Celular")
    )
    page, errors = await new_page(
        browser, viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True
    )
    await sign_in(page, env.console, env.agent)
    await live(page)
    await page.get_by_role("radio", name="Todas").check()
    item = page.locator(".conv", has_text="Caio Celular")
    await expect(item).to_be_visible()
    await expect(page.locator("#thread")).to_be_hidden()
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, "the page scrolls sideways on a phone"
    await shot(page, "phone-list")

    await item.get_by_role("link").click()
    await expect(page.locator(".thread-head h2")).to_have_text("Caio Celular")
    await expect(page.locator(".list-pane")).to_be_hidden()
    await expect(page.get_by_label("Sua resposta")).to_be_visible()
    await shot(page, "phone-thread")
    await page.locator(".thread-head .back").click()
    await expect(page.locator(".list-pane")).to_be_visible()
    assert errors == []


async def open_conversation(page: Any, name: str) -> Any:
    item = page.locator(".conv", has_text=name)
    await expect(item).to_be_visible()
    await item.get_by_role("link").click()
    await expect(page.locator(".thread-head h2")).to_have_text(name)
    return page.locator(".thread")


async def test_closed_window_offers_templates_then_actions_move_the_conversation(
    env: Env, browser: Any
) -> None:
    phone = customer()
    await webhook(env, meta_text(PHONE_ID, DISPLAY, phone, "Oi, tudo bem?", name="Zé Antigo"))

    async def stored() -> Any:
        return await env.pool.fetchval(
            "SELECT id FROM active_conversations WHERE client_id = $1 AND contact_key = $2",
            env.tenant,
            phone,
        )

    cid = await eventually(stored)
    # the customer last wrote 30 hours ago: WhatsApp's window is closed
    await env.pool.execute(
        "UPDATE active_conversations SET last_customer_message_at = now() - interval '30 hours'"
        " WHERE id = $1",
        cid,
    )
    page, errors = await new_page(browser, viewport={"width": 1280, "height": 800})
    await sign_in(page, env.console, env.agent)
    await live(page)
    thread = await open_conversation(page, "Zé Antigo")
    await expect(page.get_by_text("Janela de 24 horas fechada.")).to_be_visible()
    await expect(page.locator("#composer-text")).to_be_disabled()
    await page.get_by_label("Modelo aprovado").select_option(label="retomar_contato (pt_BR)")
    await expect(page.locator("[data-template-body]")).to_have_text("Olá {{1}}, podemos continuar?")
    await page.get_by_label("Parâmetro 1").fill("Zé")
    await page.get_by_role("button", name="Enviar modelo").click()
    await expect(thread.locator(".msg.out", has_text="Olá Zé, podemos continuar?")).to_be_visible()
    # a reply takes the conversation over for the attendant
    await expect(page.locator(".thread-head .state-line")).to_contain_text("Com atendente")

    await page.get_by_role("button", name="Devolver ao assistente").click()
    await expect(page.locator(".thread-head .state-line")).to_contain_text("Com o assistente")
    await page.locator("summary", has_text="Encerrar").click()
    await page.get_by_role("button", name="Resolvido", exact=True).click()
    await expect(page.locator(".thread-head .state-line")).to_contain_text("Encerrada")
    state = await env.pool.fetchval("SELECT state FROM active_conversations WHERE id = $1", cid)
    assert state == "closed"
    resolved = await env.pool.fetchval(
        "SELECT data->>'by' FROM conversation_events WHERE conversation_id = $1"
        " AND event_type = 'resolved' ORDER BY id DESC LIMIT 1",
        cid,
    )
    assert resolved == "human"
    assert errors == []


async def test_file_with_caption_drafts_and_the_mute_button(env: Env, browser: Any) -> None:
    phone, other = customer(), customer()
    await webhook(env, meta_text(PHONE_ID, DISPLAY, phone, "Manda a foto?", name="Lia Foto"))
    await webhook(env, meta_text(PHONE_ID, DISPLAY, other, "Bom dia", name="Otto Outro"))
    page, errors = await new_page(browser, viewport={"width": 1280, "height": 800})
    await sign_in(page, env.console, env.agent)
    await live(page)
    await page.get_by_role("radio", name="Todas").check()

    # a draft stays with its conversation, across conversations and a reload
    await open_conversation(page, "Otto Outro")
    await page.get_by_label("Sua resposta").fill("rascunho para o Otto")
    thread = await open_conversation(page, "Lia Foto")
    await expect(page.get_by_label("Sua resposta")).to_have_value("")
    await page.reload()
    await expect(page.locator(".thread-head h2")).to_have_text("Lia Foto")
    await open_conversation(page, "Otto Outro")
    await expect(page.get_by_label("Sua resposta")).to_have_value("rascunho para o Otto")

    thread = await open_conversation(page, "Lia Foto")
    await page.locator("#composer-file").set_input_files(
        {"name": "cardapio.png", "mimeType": "image/png", "buffer": PNG}
    )
    await expect(page.locator("[data-attachment-name]")).to_have_text("cardapio.png")
    await page.get_by_label("Sua resposta").fill("Nosso cardápio")
    await page.get_by_role("button", name="Enviar", exact=True).click()
    sent = thread.locator(".msg.out.author-human", has_text="Nosso cardápio")
    await expect(sent.locator("img")).to_be_visible()
    assert await sent.locator("img").evaluate("img => img.naturalWidth") == 1

    async def image_sent() -> list[Any]:
        return [
            m for m in env.graph.sent_messages(to=phone) if (m.json or {}).get("type") == "image"
        ]

    out = await eventually(image_sent)
    assert out[0].json["image"].get("caption") == "Nosso cardápio"

    # the bell mutes the alert sound, and the choice is kept on the account
    bell = page.locator("#sound-toggle")
    await expect(bell).to_have_attribute("aria-pressed", "true")
    await bell.click()
    await expect(bell).to_have_attribute("aria-pressed", "false")
    await expect(bell).to_contain_text("Som desligado")

    async def muted() -> bool:
        return (
            await env.pool.fetchval(
                "SELECT notify_sound FROM console_users WHERE lower(email) = lower($1)", env.agent
            )
            is False
        )

    await eventually(muted)
    await page.reload()
    await expect(page.locator("#sound-toggle")).to_have_attribute("aria-pressed", "false")
    await bell.click()
    await expect(bell).to_have_attribute("aria-pressed", "true")
    assert errors == []


async def test_after_the_stream_drops_the_page_catches_up_without_reload(
    env: Env, browser: Any
) -> None:
    phone = customer()
    await webhook(
        env, meta_text(PHONE_ID, DISPLAY, phone, "Primeira mensagem", name="Rita Retorno")
    )
    page, errors = await new_page(browser, viewport={"width": 1280, "height": 800})
    await sign_in(page, env.console, env.agent)
    await live(page)
    await page.get_by_role("radio", name="Todas").check()
    thread = await open_conversation(page, "Rita Retorno")
    # opening marked it read and refetched the thread: nothing is in flight any more
    await expect(page.locator(".thread-head[data-unread='0']")).to_have_count(1)
    await page.evaluate("window.__sameDocument = true")

    env.service.stop()  # the console restarts: every open stream drops
    await expect(page.locator("#conn-status")).to_be_visible()
    await expect(page.locator("#conn-status")).to_have_text(
        "Sem conexão ao vivo. Tentando reconectar…"
    )
    # meanwhile the customer writes again; nobody is there to tell the page
    await webhook(env, meta_text(PHONE_ID, DISPLAY, phone, "Alguém aí?", name="Rita Retorno"))

    async def stored() -> bool:
        return bool(
            await env.pool.fetchval(
                "SELECT count(*) FROM chat_messages WHERE client_id = $1 AND content = 'Alguém aí?'"
                " AND conversation_id IN (SELECT id FROM active_conversations"
                " WHERE contact_key = $2)",
                env.tenant,
                phone,
            )
        )

    await eventually(stored)
    env.service.start()
    async with httpx.AsyncClient() as client:
        await wait_ready(client, env.service)
    await expect(page.locator("body[data-stream='open']")).to_have_count(1, timeout=40_000)
    await expect(thread.locator(".msg.in", has_text="Alguém aí?")).to_be_visible()
    await expect(page.locator("#conn-status")).to_be_hidden()
    assert await page.evaluate("window.__sameDocument") is True  # caught up without a reload
    assert errors == []


async def test_a_stale_csrf_token_is_renewed_instead_of_failing(env: Env, browser: Any) -> None:
    phone = customer()
    await webhook(env, meta_text(PHONE_ID, DISPLAY, phone, "Oi de novo", name="Téo Token"))
    context = await browser.new_context(locale="pt-BR", viewport={"width": 1280, "height": 800})
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    await sign_in(page, env.console, env.agent)
    await page.get_by_role("radio", name="Todas").check()
    await open_conversation(page, "Téo Token")
    old = await page.get_attribute('meta[name="csrf-token"]', "content")
    # signing in again elsewhere in the same browser replaces the session (and its token)
    again = await context.request.post(
        f"{env.console}/api/auth/login", data={"email": env.agent, "password": PASSWORD}
    )
    assert again.status == 200
    await page.get_by_role("button", name="Assumir").click()
    await expect(page.locator(".thread-head .state-line")).to_contain_text("Com Ana Atendente")
    assert await page.get_attribute('meta[name="csrf-token"]', "content") != old
    await expect(page.locator("#flash")).to_be_hidden()
    assert errors == []
    await context.close()


async def test_operator_picks_a_tenant_on_a_phone_and_works_in_its_inbox(
    env: Env, browser: Any
) -> None:
    tag = uuid.uuid4().hex[:6]
    await env.pool.execute("INSERT INTO clients (name) VALUES ($1)", f"Outra Loja {tag}")
    operator = f"operadora-{tag}@example.com"
    await users_repo.create_user(
        env.pool,
        tenant_id=None,
        email=operator,
        name="Olga Operadora",
        role="operator",
        password_hash=passwords.hash_password_sync(PASSWORD),
    )
    page, errors = await new_page(
        browser, viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True
    )
    await page.goto(f"{env.console}/login")
    await page.get_by_label("E-mail").fill(operator)
    await page.get_by_label("Senha").fill(PASSWORD)
    await page.get_by_role("button", name="Entrar").click()
    # no tenant chosen yet: the inbox sends an operator to the chooser
    await page.wait_for_url(re.compile(r".*/clientes$"))
    await expect(page.get_by_role("heading", name="Clientes", exact=True)).to_be_visible()
    await expect(page.locator("#acting-tenant")).to_contain_text("Nenhum cliente escolhido")

    await page.get_by_label("Buscar cliente").fill("Loja do Navegador")
    row = page.locator(".tenant-row", has_text="Loja do Navegador")
    await expect(row).to_be_visible()
    await expect(page.locator(".tenant-row", has_text=f"Outra Loja {tag}")).to_have_count(0)
    await expect(row).to_contain_text(DISPLAY)
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, "the chooser scrolls sideways on a phone"
    await shot(page, "operator-tenants")

    await row.get_by_role("button", name="Abrir as conversas de Loja do Navegador").click()
    await page.wait_for_url(re.compile(r".*/inbox$"))
    banner = page.locator("#acting-tenant")
    await expect(banner).to_contain_text("Atuando como Loja do Navegador")
    await expect(banner.get_by_role("link", name="Trocar de cliente")).to_be_visible()
    await live(page)  # the stream follows the chosen tenant
    await page.get_by_role("radio", name="Todas").check()
    phone = customer()
    await webhook(
        env, meta_text(PHONE_ID, DISPLAY, phone, "Tem entrega hoje?", name="Otávio Operação")
    )
    item = page.locator(".conv", has_text="Otávio Operação")
    await expect(item).to_be_visible()  # arrived live, no reload
    await item.get_by_role("link").click()
    await expect(page.locator(".thread-head h2")).to_have_text("Otávio Operação")
    await expect(page.locator(".msg.in", has_text="Tem entrega hoje?")).to_be_visible()
    await expect(page.get_by_label("Sua resposta")).to_be_visible()
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, "the operator's inbox scrolls sideways on a phone"
    await shot(page, "operator-thread")

    await banner.get_by_role("link", name="Trocar de cliente").click()
    await page.wait_for_url(re.compile(r".*/clientes$"))
    await expect(page.locator(".tenant-row.current")).to_contain_text("Loja do Navegador")
    assert errors == []
