""" "Testar o bot" through the real pipeline: console, ingest, rag-worker and sender as
processes (the meta-gateway too, for the production comparison), the model and the
tenant's calendar as fakes on loopback.

A message typed on the page is published like a provider webhook, answered by the
rag-worker and delivered by the sender's sandbox client; the page shows the reply with
the passages and tools it used. The same booking the model asks for is shown, not made,
in the sandbox, and made on the calendar when a real customer asks on WhatsApp.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from aio_pika.abc import AbstractRobustConnection

from tests.e2e.stack import SHORT_SEND_WINDOW, Stack, eventually, meta_text, signed
from tests.fakes import openai_server as oa
from tests.fakes.calendar_server import TZ, FakeCalendar
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.server import ServerThread
from tests.integration.console_helpers import PASSWORD, new_user, sign_in
from walocal.graph import make_graph_app
from walocal.graph_state import GraphState

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

SECRET = "test-app-secret"
AUTH = {"Authorization": "Bearer test-admin-token"}
PHONE, DISPLAY, TOKEN = "888000888000888", "5511988880000", "EAAtokenSandbox0000000000008"
KB_NAME = "agenda.md"
KB_TEXT = (
    "# Agendamentos\n\nPara marcar um horário de consulta, diga o dia e a hora. "
    "Atendemos de segunda a sexta, das 9h às 12h.\n"
)


@dataclass
class Env:
    graph: GraphState
    openai: FakeOpenAI
    calendar: FakeCalendar
    gateway: httpx.AsyncClient
    console_url: str
    pool: asyncpg.Pool
    tenant: str


@pytest.fixture(scope="module")
def fakes() -> Iterator[tuple[GraphState, str, FakeOpenAI, FakeCalendar]]:
    state = GraphState(tokens={PHONE: TOKEN})
    server = ServerThread(make_graph_app(state)).start()
    try:
        with FakeOpenAI.serve() as openai_fake, FakeCalendar.serve() as calendar:
            yield state, server.url, openai_fake, calendar
    finally:
        server.stop()


@pytest.fixture(scope="module")
async def env(
    fakes: tuple[GraphState, str, FakeOpenAI, FakeCalendar],
    test_env: dict[str, str],
    pool: asyncpg.Pool,
    amqp: AbstractRobustConnection,
) -> AsyncIterator[Env]:
    graph, graph_url, openai_fake, calendar = fakes
    stack = Stack(
        {
            **test_env,
            "META_GRAPH_URL": graph_url,
            **SHORT_SEND_WINDOW,
            "CONSOLE_INSECURE_COOKIES": "1",
            "CONSOLE_LOGIN_MAX_PER_ADDRESS": "100000",
        }
    )
    # the operator's model endpoint, and the tenant's calendar on loopback (trusted here)
    ai = {
        "OPENAI_API_KEY": "test",
        "OPENAI_BASE_URL": openai_fake.base_url,
        "TOOL_ALLOWED_HOSTS": "127.0.0.1",
    }
    services = {
        "meta-gateway": stack.add("meta-gateway"),
        "lancepilot-ingest": stack.add("lancepilot-ingest"),
        "rag-worker": stack.add("rag-worker", ai),
        "sender": stack.add("sender"),
        "console": stack.add("console"),
    }
    try:
        await stack.start(*services.values())
        async with httpx.AsyncClient(base_url=services["meta-gateway"].url, timeout=20) as http:
            tools = {
                "debounce": {"quiet_seconds": 0},
                "llm_config": {"provider": "openai", "model": "gpt-4o-mini"},
                "calendar": {
                    "active": True,
                    "backend": {"type": "http", "base_url": calendar.url + "/api"},
                },
            }
            resp = await http.post(
                "/admin/clients",
                headers=AUTH,
                json={"name": "Clínica Teste", "tools_config": tools},
            )
            assert resp.status_code == 201, resp.text
            tenant = str(resp.json()["id"])
            resp = await http.post(
                f"/admin/clients/{tenant}/providers",
                headers=AUTH,
                json={
                    "provider_type": "meta",
                    "is_default": True,
                    "config": {
                        "phone_id": PHONE,
                        "display_phone_number": DISPLAY,
                        "access_token": TOKEN,
                        "waba_id": "8880008880008",
                    },
                },
            )
            assert resp.status_code == 201, resp.text
            resp = await http.post(
                f"/admin/clients/{tenant}/documents",
                headers=AUTH,
                json={"name": KB_NAME, "text": KB_TEXT},
            )
            assert resp.status_code == 201, resp.text
            yield Env(graph, openai_fake, calendar, http, services["console"].url, pool, tenant)
    finally:
        stack.stop_all()


def next_weekday_at_nine() -> str:
    day: date = datetime.now(TZ).date() + timedelta(days=2)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return f"{day.isoformat()} 09:00"


def booking_posts(calendar: FakeCalendar) -> list[dict[str, Any]]:
    return [r for r in calendar.requests if r["method"] == "POST" and r["path"] == "/api/bookings"]


@asynccontextmanager
async def owner_console(env: Env) -> AsyncIterator[httpx.AsyncClient]:
    owner = await new_user(env.pool, env.tenant, "owner", name="Dona Clara")
    async with httpx.AsyncClient(base_url=env.console_url, timeout=20) as client:
        await sign_in(client, owner["email"])
        yield client


async def thread_with(console: httpx.AsyncClient, text: str) -> str:
    async def check() -> str | None:
        resp = await console.get("/testar/conversa")
        assert resp.status_code == 200, resp.text
        return resp.text if text in resp.text else None

    found: str = await eventually(check, timeout=30, every=0.3)
    return found


async def test_a_typed_message_is_answered_with_its_trace_and_the_booking_is_not_made(
    env: Env,
) -> None:
    start = next_weekday_at_nine()
    env.openai.queue(
        oa.tool_call("book_appointment", start=start, name="Cliente de teste"),
        oa.text("Pronto, seu horário está marcado!"),
    )
    async with owner_console(env) as console:
        page = await console.get("/testar")
        assert page.status_code == 200 and "Testar o bot" in page.text
        mid = uuid.uuid4().hex
        said = "Quero marcar um horário de consulta"
        sent = await console.post("/testar/mensagens", data={"text": said, "mid": mid})
        assert sent.status_code == 200, sent.text
        assert sent.headers.get("HX-Trigger") == "sandbox-refresh"
        # the same post again (a retry after a lost answer): the same message, not a second
        again = await console.post("/testar/mensagens", data={"text": said, "mid": mid})
        assert again.status_code == 200
        html = await thread_with(console, "Pronto, seu horário está marcado!")

    assert said in html
    assert "book_appointment" in html and "simulado, não feito" in html
    assert KB_NAME in html and "Para marcar um horário de consulta" in html
    assert re.search(r"US\$ \d+\.\d{5}", html)
    # the model was told it was a dry run; the calendar never heard of it
    assert booking_posts(env.calendar) == [] and env.calendar.bookings == {}
    rows = await env.pool.fetch(
        "SELECT direction, provider, status, provider_message_id FROM chat_messages m"
        " WHERE client_id = $1 AND provider = 'sandbox' AND conversation_id ="
        " (SELECT conversation_id FROM chat_messages WHERE provider_message_id = $2)"
        " ORDER BY id",
        env.tenant,
        f"sandbox.{mid}",
    )
    assert [r["direction"] for r in rows] == ["in", "out"]
    assert rows[1]["status"] == "sent" and rows[1]["provider_message_id"].startswith("sandbox.")
    trace = await env.pool.fetchval(
        "SELECT trace FROM reply_traces WHERE client_id = $1 ORDER BY created_at DESC LIMIT 1",
        env.tenant,
    )
    assert trace["tools"][0]["name"] == "book_appointment" and trace["tools"][0]["dry_run"]
    assert trace["passages"][0]["document"] == KB_NAME
    assert trace["tokens_in"] > 0 and trace["model"] == "gpt-4o-mini"


async def test_the_same_booking_from_a_real_customer_is_made(env: Env) -> None:
    before = len(booking_posts(env.calendar))
    start = next_weekday_at_nine()
    env.openai.queue(
        oa.tool_call("book_appointment", start=start, name="Carla"),
        oa.text("Agendado!"),
    )
    who = "55119" + str(uuid.uuid4().int)[:8]
    raw, headers = signed(meta_text(PHONE, DISPLAY, who, "Quero marcar", name="Carla"), SECRET)
    resp = await env.gateway.post("/meta/webhook", content=raw, headers=headers)
    assert resp.status_code == 200

    async def answered() -> bool:
        return any(
            (r.json or {}).get("text", {}).get("body") == "Agendado!"
            for r in env.graph.sent_messages(to=who)
        )

    await eventually(answered, timeout=30)
    assert len(booking_posts(env.calendar)) == before + 1
    assert [b["contact_key"] for b in env.calendar.bookings.values()] == [who]
    # a production reply keeps no sandbox trace
    traced = await env.pool.fetchval(
        "SELECT count(*) FROM reply_traces t JOIN active_conversations c"
        " ON c.id = t.conversation_id WHERE c.client_id = $1 AND c.contact_key = $2",
        env.tenant,
        who,
    )
    assert traced == 0


async def test_reset_starts_a_new_test_customer(env: Env) -> None:
    env.openai.queue(oa.text("Olá! Como posso ajudar?"), oa.text("Olá de novo!"))
    async with owner_console(env) as console:
        await console.post("/testar/mensagens", data={"text": "oi", "mid": uuid.uuid4().hex})
        first = await thread_with(console, "Olá! Como posso ajudar?")
        reset = await console.post("/testar/reiniciar")
        assert reset.status_code == 200
        assert "Olá! Como posso ajudar?" not in reset.text and "sandbox-empty" in reset.text
        await console.post("/testar/mensagens", data={"text": "oi", "mid": uuid.uuid4().hex})
        second = await thread_with(console, "Olá de novo!")
        # the inbox is for customers: the owner's test conversations are not listed there
        listed = (await console.get("/api/conversations", params={"limit": 100})).json()
    assert "Olá! Como posso ajudar?" in first and "Olá! Como posso ajudar?" not in second
    assert "sandbox" not in {c["provider"] for c in listed["conversations"]}
    contacts = await env.pool.fetchval(
        "SELECT count(DISTINCT contact_key) FROM active_conversations"
        " WHERE client_id = $1 AND provider = 'sandbox'",
        env.tenant,
    )
    assert contacts >= 2


async def test_a_sandbox_handover_hands_over_and_alerts_nobody(env: Env) -> None:
    env.openai.queue(
        oa.tool_call("transfer_to_human", reason="cliente pediu"),
        oa.text("Vou chamar alguém da equipe."),
    )
    async with owner_console(env) as console:
        owner = await env.pool.fetchval(
            "SELECT id FROM console_users WHERE client_id = $1 AND role = 'owner'"
            " ORDER BY created_at DESC LIMIT 1",
            env.tenant,
        )
        # an owner who wants handovers on their phone
        await env.pool.execute(
            "UPDATE console_users SET alert_whatsapp = '5511977776666' WHERE id = $1", owner
        )
        await console.post("/testar/reiniciar")
        said = {"text": "quero falar com uma pessoa", "mid": uuid.uuid4().hex}
        assert (await console.post("/testar/mensagens", data=said)).status_code == 200
        html = await thread_with(console, "passou esta conversa para um atendente")
    assert "Vou chamar alguém da equipe." in html and "transfer_to_human" in html
    alerts = await env.pool.fetchval(
        "SELECT count(*) FROM chat_messages WHERE client_id = $1 AND payload ? 'alert_to'",
        env.tenant,
    )
    assert alerts == 0
    assert env.graph.sent_messages(to="5511977776666") == []


async def test_bad_input_agents_and_other_tenants_are_refused(env: Env) -> None:
    async with owner_console(env) as console:
        empty = await console.post("/testar/mensagens", data={"text": "  ", "mid": "abcdefgh12"})
        assert empty.status_code == 422 and "Mensagem: escreva alguma coisa" in empty.text
        long = await console.post(
            "/testar/mensagens", data={"text": "a" * 4001, "mid": uuid.uuid4().hex}
        )
        assert long.status_code == 422 and "até 4000 caracteres" in long.text
        bad_id = await console.post("/testar/mensagens", data={"text": "oi", "mid": "x"})
        assert bad_id.status_code == 422 and "mid" in bad_id.text
        other = await env.pool.fetchval(
            "INSERT INTO clients (name) VALUES ('Outra') RETURNING id::text"
        )
        assert (await console.get(f"/testar/conversa?tenant_id={other}")).status_code == 404
        assert (await console.get(f"/testar?tenant_id={other}")).status_code == 404
    agent = await new_user(env.pool, env.tenant, "agent")
    async with httpx.AsyncClient(base_url=env.console_url, timeout=20) as console:
        await sign_in(console, agent["email"])
        page = await console.get("/testar")
        assert page.status_code == 403 and "Acesso não permitido" in page.text
        assert (await console.get("/testar/conversa")).status_code == 403
        post = await console.post("/testar/mensagens", data={"text": "oi", "mid": uuid.uuid4().hex})
        assert post.status_code == 403
        assert (await console.post("/testar/reiniciar")).status_code == 403


CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"]
SHOTS = os.environ.get("CONSOLE_SCREENSHOTS")
WAIT_MS = 30_000


@pytest.fixture()
async def browser() -> AsyncIterator[Any]:
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} not found: install Debian's chromium")
    api = pytest.importorskip("playwright.async_api")
    async with api.async_playwright() as pw:
        b = await pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield b
        await b.close()


async def browser_page(browser: Any, env: Env, role: str) -> tuple[Any, list[str]]:
    """A phone-sized page (390 px) signed in as a new `role` of the tenant."""
    user = await new_user(env.pool, env.tenant, role, name="Dona Clara")
    context = await browser.new_context(
        locale="pt-BR", viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True
    )
    page = await context.new_page()
    page.set_default_timeout(WAIT_MS)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on(
        "console",
        lambda msg: (
            errors.append(msg.text)
            if msg.type == "error" and not msg.text.startswith("Failed to load resource")
            else None
        ),
    )
    await page.goto(f"{env.console_url}/login")
    await page.get_by_label("E-mail").fill(user["email"])
    await page.get_by_label("Senha").fill(PASSWORD)
    await page.get_by_role("button", name="Entrar").click()
    await page.wait_for_url(re.compile(r".*/inbox.*"))
    return page, errors


async def shot(page: Any, name: str) -> None:
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        # caret="initial": hiding the caret injects a style the page's CSP refuses (an error)
        await page.screenshot(path=str(Path(SHOTS) / f"{name}.png"), caret="initial")


@pytest.mark.browser
async def test_the_page_on_a_phone_send_reply_with_passages_reset(env: Env, browser: Any) -> None:
    expect = pytest.importorskip("playwright.async_api").expect
    env.openai.queue(oa.text("Atendemos de segunda a sexta, das 9h às 12h. Quer marcar?"))
    page, errors = await browser_page(browser, env, "owner")
    await page.get_by_role("link", name="Testar o bot").click()
    await page.wait_for_url(re.compile(r".*/testar.*"))
    await expect(page.get_by_role("heading", name="Testar o bot")).to_be_visible()
    await expect(page.locator(".sandbox-empty")).to_be_visible()
    await shot(page, "sandbox-empty")

    box = page.get_by_label("Sua mensagem como cliente")
    await box.fill("Qual o horário de consulta?")
    await page.get_by_role("button", name="Enviar").click()
    await expect(box).to_have_value("")
    thread = page.locator("#sandbox-thread")
    await expect(thread.locator(".msg.in", has_text="Qual o horário de consulta?")).to_be_visible()
    reply = thread.locator(".msg.out", has_text="Atendemos de segunda a sexta")
    await expect(reply).to_be_visible()
    trace = thread.locator("details[data-trace]").last
    await expect(trace.locator("summary")).to_contain_text("Respondeu em")
    await trace.locator("summary").click()
    await expect(trace.locator("[data-passages]")).to_contain_text(KB_NAME)
    await expect(trace).to_contain_text("Nenhuma ferramenta usada.")
    # the polled refresh keeps the trace open
    await page.wait_for_timeout(2000)
    assert await trace.evaluate("d => d.open")
    await shot(page, "sandbox-reply")
    # nothing wider than the phone
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390

    # a booking the model asks for is shown as simulated under its reply, never made
    posts_before = len(booking_posts(env.calendar))
    env.openai.queue(
        oa.tool_call("book_appointment", start=next_weekday_at_nine(), name="Cliente de teste"),
        oa.text("Prontinho, marcado!"),
    )
    await box.fill("Quero marcar às 9h")
    await box.press("Enter")
    await expect(thread.locator(".msg.out", has_text="Prontinho, marcado!")).to_be_visible()
    booked = thread.locator("details[data-trace]").last
    await booked.locator("summary").click()
    await expect(booked.locator("[data-tools]")).to_contain_text("book_appointment")
    await expect(booked.locator("[data-tools]")).to_contain_text("simulado, não feito")
    await booked.scroll_into_view_if_needed()
    await shot(page, "sandbox-dry-run")
    assert len(booking_posts(env.calendar)) == posts_before

    # a wide screen: the chat keeps a readable column
    await page.set_viewport_size({"width": 1280, "height": 800})
    await shot(page, "sandbox-desktop")
    await page.set_viewport_size({"width": 390, "height": 844})

    empty = page.locator("#sandbox-text")
    await empty.fill("   ")
    await page.get_by_role("button", name="Enviar").click()
    await expect(page.locator("#sandbox-error")).to_have_text(
        "Mensagem: escreva alguma coisa antes de enviar."
    )

    page.once("dialog", lambda dialog: dialog.accept())
    await page.get_by_role("button", name="Recomeçar").click()
    await expect(thread.locator(".msg")).to_have_count(0)
    await expect(page.locator(".sandbox-empty")).to_be_visible()
    assert errors == []


@pytest.mark.browser
async def test_an_agent_gets_the_forbidden_page(env: Env, browser: Any) -> None:
    expect = pytest.importorskip("playwright.async_api").expect
    page, errors = await browser_page(browser, env, "agent")
    await expect(page.get_by_role("link", name="Testar o bot")).to_have_count(0)
    response = await page.goto(f"{env.console_url}/testar")
    assert response.status == 403
    await expect(page.get_by_role("heading", name="Acesso não permitido")).to_be_visible()
    await shot(page, "sandbox-agent")
    assert errors == []
