"""The console's pages at the HTML level: sign-in redirects, roles, language, headers,
escaping, and the static files, against the real database and Redis."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import asyncpg
import pytest
import redis.asyncio as aioredis

from console.settings import ConsoleSettings
from tests.integration.console_helpers import (
    client_for,
    console_app,
    console_settings,
    new_tenant,
    new_user,
    sign_in,
)
from tests.integration.inbox_helpers import MetaTenant, conversation, meta_tenant
from wacommon.broker.schemas import utcnow
from wacommon.infra.crypto import SecretBox


@pytest.fixture(scope="module")
def csettings(test_env: dict[str, str]) -> ConsoleSettings:
    return console_settings(test_env)


async def test_pages_send_anonymous_visitors_to_login_and_back(
    pool: asyncpg.Pool, redis_client: aioredis.Redis, csettings: ConsoleSettings
) -> None:
    async with client_for(console_app(csettings, pool, redis_client)) as c:
        home = await c.get("/")
        assert home.status_code == 303 and home.headers["location"] == "/inbox"
        for path in ("/inbox", "/equipe", "/conta"):
            resp = await c.get(path)
            assert resp.status_code == 303, path
            assert resp.headers["location"] == f"/login?next=%2F{path[1:]}"
        login = await c.get("/login?next=/equipe")
        assert login.status_code == 200
        html = login.text
        assert '<html lang="pt-BR">' in html and "Entrar" in html
        assert 'data-next="/equipe"' in html and 'data-url="/api/auth/login"' in html
        assert 'name="csrf-token"' not in html  # no session, no token
        # an off-site `next` is ignored
        evil = await c.get("/login?next=//evil.example/x")
        assert 'data-next="/inbox"' in evil.text


async def test_login_page_speaks_english_when_the_browser_prefers_it(
    pool: asyncpg.Pool, redis_client: aioredis.Redis, csettings: ConsoleSettings
) -> None:
    async with client_for(console_app(csettings, pool, redis_client)) as c:
        en = await c.get("/login", headers={"Accept-Language": "en-US,en;q=0.9"})
        assert '<html lang="en">' in en.text and "Sign in" in en.text
        pt = await c.get("/login", headers={"Accept-Language": "pt-BR,pt;q=0.9,en;q=0.5"})
        assert '<html lang="pt-BR">' in pt.text


async def test_signed_in_user_skips_login_and_pages_carry_the_csrf_token(
    pool: asyncpg.Pool, redis_client: aioredis.Redis, csettings: ConsoleSettings
) -> None:
    tenant = await new_tenant(pool)
    owner = await new_user(pool, tenant, "owner", name="Dona Ana")
    async with client_for(console_app(csettings, pool, redis_client)) as c:
        token = await sign_in(c, owner["email"])
        again = await c.get("/login?next=/conta")
        assert again.status_code == 303 and again.headers["location"] == "/conta"
        page = await c.get("/conta")
        assert page.status_code == 200
        assert f'<meta name="csrf-token" content="{token}">' in page.text
        assert f'"X-CSRF-Token": "{token}"' in page.text
        assert "Dona Ana" in page.text and 'href="/equipe"' in page.text
        # private pages: never cached, keyed on HX-Request, locked down by CSP
        assert page.headers["cache-control"] == "no-store"
        assert "HX-Request" in page.headers["vary"]
        assert "script-src 'self'" in page.headers["content-security-policy"]


async def test_agent_gets_a_portuguese_403_on_equipe_and_sees_no_owner_link(
    pool: asyncpg.Pool, redis_client: aioredis.Redis, csettings: ConsoleSettings
) -> None:
    tenant = await new_tenant(pool)
    agent = await new_user(pool, tenant, "agent", name="Beto")
    async with client_for(console_app(csettings, pool, redis_client)) as c:
        await sign_in(c, agent["email"])
        team = await c.get("/equipe")
        assert team.status_code == 403
        assert "Acesso não permitido" in team.text and "responsáveis" in team.text
        account = await c.get("/conta")
        assert account.status_code == 200
        assert 'href="/equipe"' not in account.text
        assert 'name="alert_whatsapp"' not in account.text  # alerts are an owner's setting


async def test_owner_sees_the_tenants_people_only(
    pool: asyncpg.Pool, redis_client: aioredis.Redis, csettings: ConsoleSettings
) -> None:
    tenant, other = await new_tenant(pool), await new_tenant(pool)
    owner = await new_user(pool, tenant, "owner", name="Dona Ana")
    await new_user(pool, tenant, "agent", name="<b>Beto</b>")
    stranger = await new_user(pool, other, "agent", name="Carla de Fora")
    async with client_for(console_app(csettings, pool, redis_client)) as c:
        await sign_in(c, owner["email"])
        page = await c.get("/equipe")
        assert page.status_code == 200
        assert "Dona Ana" in page.text and "&lt;b&gt;Beto&lt;/b&gt;" in page.text
        assert "<b>Beto</b>" not in page.text
        assert stranger["email"] not in page.text and "Carla de Fora" not in page.text
        assert page.text.count('class="user-row') == 2
        elsewhere = await c.get(f"/equipe?tenant_id={other}")
        assert elsewhere.status_code == 404 and "Página não encontrada" in elsewhere.text


async def test_user_locale_setting_wins_over_the_browser(
    pool: asyncpg.Pool, redis_client: aioredis.Redis, csettings: ConsoleSettings
) -> None:
    tenant = await new_tenant(pool)
    owner = await new_user(pool, tenant, "owner")
    await pool.execute("UPDATE console_users SET locale = 'en' WHERE id = $1", owner["id"])
    async with client_for(console_app(csettings, pool, redis_client)) as c:
        await sign_in(c, owner["email"])
        page = await c.get("/conta", headers={"Accept-Language": "pt-BR"})
        assert '<html lang="en">' in page.text and "My account" in page.text


async def test_deactivated_account_is_sent_back_to_login(
    pool: asyncpg.Pool, redis_client: aioredis.Redis, csettings: ConsoleSettings
) -> None:
    tenant = await new_tenant(pool)
    agent = await new_user(pool, tenant, "agent")
    async with client_for(console_app(csettings, pool, redis_client)) as c:
        await sign_in(c, agent["email"])
        await pool.execute("UPDATE console_users SET is_active = false WHERE id = $1", agent["id"])
        resp = await c.get("/conta")
        assert resp.status_code == 303 and resp.headers["location"].startswith("/login")


async def test_static_files_are_served_from_the_package_with_versioned_urls(
    pool: asyncpg.Pool, redis_client: aioredis.Redis, csettings: ConsoleSettings
) -> None:
    async with client_for(console_app(csettings, pool, redis_client)) as c:
        login = (await c.get("/login")).text
        for name in ("vendor/htmx-2.0.11.min.js", "console.js", "console.css"):
            assert f"/static/{name}?v=" in login, name
            resp = await c.get(f"/static/{name}")
            assert resp.status_code == 200 and len(resp.content) > 1000, name
            assert resp.headers["x-content-type-options"] == "nosniff"
        htmx = await c.get("/static/vendor/htmx-2.0.11.min.js")
        assert htmx.headers["content-type"].startswith("text/javascript")
        assert 'version:"2.0.11"' in htmx.text or '"2.0.11"' in htmx.text
        assert (await c.get("/static/vendor/htmx-LICENSE.txt")).status_code == 200
        assert (await c.get("/static/../settings.py")).status_code == 404
        assert (await c.get("/static/nope.js")).status_code == 404


@pytest.fixture(scope="module")
def box(test_env: dict[str, str]) -> SecretBox:
    return SecretBox(test_env["ENCRYPTION_KEY"])


async def test_inbox_page_lists_and_opens_conversations_from_the_api(
    pool: asyncpg.Pool, redis_client: aioredis.Redis, csettings: ConsoleSettings, box: SecretBox
) -> None:
    shop = await meta_tenant(pool, box, "Loja Páginas")
    agent = await new_user(pool, shop.id, "agent", name="Beto")
    cid = await conversation(pool, shop, name="Maria Cliente", phone="5511987650001")
    waiting = await conversation(pool, shop, name="Rui Esperando", state="human")
    async with client_for(console_app(csettings, pool, redis_client)) as c:
        await sign_in(c, agent["email"])
        page = await c.get("/inbox")
        assert page.status_code == 200
        html = page.text
        assert f'href="/inbox/{cid}"' in html and "Maria Cliente" in html
        assert 'data-open="0"' in html and "Escolha uma conversa" in html
        # handed to people, nobody answered yet: highlighted
        item = html[html.index(f'data-conversation-id="{waiting}"') :]
        assert "Aguardando atendente" in item[: item.index("</li>")]
        assert 'name="state" value="all" checked' in html

        thread = await c.get(f"/inbox/{cid}")
        assert thread.status_code == 200 and 'data-open="1"' in thread.text
        for text in ("mensagem 0", "mensagem 1", "mensagem 2"):
            assert text in thread.text
        assert 'data-status="delivered"' in thread.text  # the bot's message, delivered
        assert 'id="composer"' in thread.text and 'data-mode="open"' in thread.text
        assert 'data-window="open"' in thread.text and "Janela aberta" in thread.text


async def test_htmx_requests_get_fragments_and_every_answer_varies_on_it(
    pool: asyncpg.Pool, redis_client: aioredis.Redis, csettings: ConsoleSettings, box: SecretBox
) -> None:
    shop = await meta_tenant(pool, box, "Loja Fragmentos")
    agent = await new_user(pool, shop.id, "agent")
    cid = await conversation(pool, shop, name="Maria Fragmento")
    hx = {"HX-Request": "true"}
    async with client_for(console_app(csettings, pool, redis_client)) as c:
        await sign_in(c, agent["email"])
        listed = await c.get("/inbox", params={"fragment": "list", "state": "bot"}, headers=hx)
        assert listed.status_code == 200 and "<html" not in listed.text
        assert listed.text.lstrip().startswith('<ul class="conv-list"')
        assert "Maria Fragmento" in listed.text
        empty = await c.get("/inbox", params={"fragment": "list", "state": "closed"}, headers=hx)
        assert "Nenhuma conversa encerrada." in empty.text
        thread = await c.get(f"/inbox/{cid}", headers=hx)
        assert "<html" not in thread.text and 'class="thread"' in thread.text
        live = await c.get(f"/inbox/{cid}", params={"fragment": "live"}, headers=hx)
        assert live.text.lstrip().startswith('<div id="thread-live"')
        assert "composer" not in live.text  # the reply box (and its draft) is never swapped
        # the same URLs without htmx (a reload, Back, a shared link) are whole pages
        for resp in (listed, thread, live):
            assert "HX-Request" in resp.headers["vary"]
            assert resp.headers["cache-control"] == "no-store"
        whole = await c.get(f"/inbox/{cid}", params={"fragment": "live"})
        assert whole.text.startswith("<!doctype html>")
        restore = await c.get(f"/inbox/{cid}", headers={**hx, "HX-History-Restore-Request": "true"})
        assert restore.text.startswith("<!doctype html>")


async def test_customer_text_is_escaped_in_list_and_thread(
    pool: asyncpg.Pool, redis_client: aioredis.Redis, csettings: ConsoleSettings, box: SecretBox
) -> None:
    shop = await meta_tenant(pool, box, "Loja Escape")
    agent = await new_user(pool, shop.id, "agent")
    evil = '<img src=x onerror="alert(1)"> <script>alert(2)</script>'
    cid = await conversation(pool, shop, name=evil, messages=1)
    await pool.execute(
        "UPDATE chat_messages SET content = $2 WHERE conversation_id = $1", cid, evil
    )
    async with client_for(console_app(csettings, pool, redis_client)) as c:
        await sign_in(c, agent["email"])
        for url in ("/inbox", f"/inbox/{cid}"):
            html = (await c.get(url)).text
            assert "<script>alert" not in html and "<img src=x" not in html, url
            assert "&lt;script&gt;alert(2)&lt;/script&gt;" in html, url


async def test_closed_window_turns_the_reply_box_to_templates(
    pool: asyncpg.Pool, redis_client: aioredis.Redis, csettings: ConsoleSettings, box: SecretBox
) -> None:
    shop = await meta_tenant(pool, box, "Loja Janela")
    agent = await new_user(pool, shop.id, "agent")
    cid = await conversation(
        pool, shop, name="Zé Antigo", last_customer_at=utcnow() - timedelta(hours=30)
    )
    async with client_for(console_app(csettings, pool, redis_client)) as c:
        await sign_in(c, agent["email"])
        html = (await c.get(f"/inbox/{cid}")).text
        assert 'data-mode="closed"' in html and 'data-window="closed"' in html
        assert "Janela de 24 horas fechada." in html
        assert f'hx-get="/inbox/{cid}?fragment=templates"' in html


async def test_other_tenants_and_bad_ids_get_the_404_page(
    pool: asyncpg.Pool, redis_client: aioredis.Redis, csettings: ConsoleSettings, box: SecretBox
) -> None:
    mine, theirs = await meta_tenant(pool, box, "Loja Minha"), await meta_tenant(pool, box)
    owner = await new_user(pool, mine.id, "owner")
    foreign = await conversation(pool, theirs, name="Cliente Alheio")
    async with client_for(console_app(csettings, pool, redis_client)) as c:
        await sign_in(c, owner["email"])
        for url in (f"/inbox/{foreign}", "/inbox/not-a-uuid", f"/inbox/{uuid.uuid4()}"):
            resp = await c.get(url)
            assert resp.status_code == 404, url
            assert "Página não encontrada" in resp.text and "Cliente Alheio" not in resp.text
        listed = (await c.get("/inbox")).text
        assert "Cliente Alheio" not in listed
        # htmx asking after the session ended: a bare 401 (the script goes to /login)
        await c.post("/api/auth/logout")
        gone = await c.get("/inbox", params={"fragment": "list"}, headers={"HX-Request": "true"})
        assert gone.status_code == 401 and gone.text == ""


async def _message(pool: asyncpg.Pool, shop: MetaTenant, cid: str, **cols: Any) -> int:
    row = {
        "direction": "in",
        "role": "customer",
        "kind": "text",
        "content": "",
        "status": "received",
        **cols,
    }
    names = ", ".join(row)
    marks = ", ".join(f"${i}" for i in range(4, 4 + len(row)))
    return int(
        await pool.fetchval(
            f"INSERT INTO chat_messages (client_id, conversation_id, provider, {names})"
            f" VALUES ($1, $2, $3, {marks}) RETURNING id",
            shop.id,
            cid,
            "meta",
            *row.values(),
        )
    )


async def test_thread_shows_media_transcripts_tools_and_every_delivery_state(
    pool: asyncpg.Pool, redis_client: aioredis.Redis, csettings: ConsoleSettings, box: SecretBox
) -> None:
    shop = await meta_tenant(pool, box, "Loja Mídia")
    agent = await new_user(pool, shop.id, "agent", name="Beto")
    cid = await conversation(pool, shop, name="Maria Mídia", messages=0)
    processed = {"media_processed": True}
    photo = await _message(
        pool,
        shop,
        cid,
        kind="image",
        content="Uma pizza de calabresa",
        media={"mime_type": "image/jpeg"},
        payload=processed,
    )
    voice = await _message(
        pool,
        shop,
        cid,
        kind="audio",
        content="quero uma grande",
        media={"mime_type": "audio/ogg", "voice": True},
        payload=processed,
    )
    await _message(
        pool,
        shop,
        cid,
        direction="out",
        role="bot",
        content="Anotado!",
        status="read",
        burst_id="burst-1",
    )
    await pool.execute(
        "INSERT INTO conversation_events (client_id, conversation_id, event_type, data,"
        " correlation_id) VALUES ($1, $2, 'tool_used', $3, 'burst-1')",
        shop.id,
        cid,
        {"tool": "consultar_cardapio", "ok": True},
    )
    await _message(
        pool,
        shop,
        cid,
        direction="out",
        role="human",
        content="Não chegou?",
        status="failed",
        error_code="131047",
    )
    await _message(
        pool,
        shop,
        cid,
        direction="out",
        role="human",
        content="Talvez chegou",
        status="unknown",
    )
    await _message(
        pool,
        shop,
        cid,
        direction="out",
        role="human",
        content="Na fila",
        status="pending",
    )
    async with client_for(console_app(csettings, pool, redis_client)) as c:
        await sign_in(c, agent["email"])
        html = (await c.get(f"/inbox/{cid}")).text
    assert f'<img src="/api/media/{photo}"' in html and 'alt="Uma pizza de calabresa"' in html
    assert "Descrição da imagem:</span> Uma pizza de calabresa" in html
    assert f'<audio controls preload="none" src="/api/media/{voice}"' in html
    assert "Transcrição:</span> quero uma grande" in html
    assert html.count("quero uma grande") == 1  # the transcript, not also as the text
    assert "consultar_cardapio" in html
    assert 'class="ticks read" data-status="read"' in html
    failed = html[html.index('class="ticks failed"') :]
    failed = failed[: failed.index("</span>", failed.index("</span>") + 1)]
    assert "não enviada" in failed and "Janela de 24 horas fechada" in failed
    assert "código 131047" in failed
    assert "envio não confirmado" in html
    assert 'data-status="pending"' in html
