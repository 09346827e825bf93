"""The owner's Meta channel API (`/api/channels/meta`) and page against the fake Graph
(`walocal.graph_admin`, the one `make run` serves), the run's database and Redis: the
offline Embedded Signup imitation end to end, registration with the PIN, the business
profile, templates, Graph's refusals as 4xx/502, roles and tenant scope."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import asyncpg
import httpx
import pytest
import redis.asyncio as aioredis
from structlog.testing import capture_logs

from console.settings import ConsoleSettings
from tests.fakes.server import ServerThread, serve_in_thread
from tests.integration.console_helpers import (
    client_for,
    console_app,
    console_settings,
    new_tenant,
    new_user,
    sign_in,
)
from walocal.graph_admin import combined_graph_app, sandbox_states
from walocal.graph_admin_state import GraphAdminState
from walocal.graph_state import GraphState

API = "/api/channels/meta"


@dataclass
class World:
    graph: GraphAdminState
    server: ServerThread
    settings: ConsoleSettings


@pytest.fixture
def world(test_env: dict[str, str]) -> Iterator[World]:
    admin, sends = sandbox_states({}, accept_any_token=True, demo=None)
    with serve_in_thread(combined_graph_app(admin, sends)) as server:
        yield World(admin, server, console_settings(test_env, meta_graph_url=server.url))


@pytest.fixture
async def owner_client(
    world: World, pool: asyncpg.Pool, redis_client: aioredis.Redis
) -> AsyncIterator[tuple[httpx.AsyncClient, str]]:
    tenant = await new_tenant(pool, "Padaria do Zé")
    owner = await new_user(pool, tenant, "owner")
    async with client_for(console_app(world.settings, pool, redis_client)) as c:
        await sign_in(c, owner["email"])
        yield c, tenant


def _phone() -> str:
    # display numbers route inbound messages: each test connects numbers of its own
    return f"55119{random.randrange(10**8):08d}"


async def _connect(c: httpx.AsyncClient, phone: str | None = None) -> dict[str, object]:
    """What the page does: the imitation popup, then the signup with its code and ids."""
    phone = phone or _phone()
    popup = await c.post(
        f"{API}/sandbox-signup",
        json={"verified_name": "Padaria do Zé", "display_phone_number": phone},
    )
    assert popup.status_code == 200, popup.text
    got = popup.json()
    signup = await c.post(
        f"{API}/signup",
        json={
            "code": got["code"],
            "waba_id": got["waba_id"],
            "phone_number_id": got["phone_number_id"],
            "event": "FINISH",
        },
    )
    assert signup.status_code == 201, signup.text
    number: dict[str, object] = signup.json()
    return number


async def test_offline_signup_stores_the_number_with_its_token_sealed(
    world: World, owner_client: tuple[httpx.AsyncClient, str], pool: asyncpg.Pool
) -> None:
    c, tenant = owner_client
    empty = (await c.get(API)).json()
    assert empty["mode"] == "sandbox" and empty["numbers"] == [] and empty["app_id"] is None
    phone = _phone()
    with capture_logs() as logs:
        number = await _connect(c, phone)
    assert number["display_phone_number"] == phone
    assert number["verified_name"] == "Padaria do Zé" and number["registered"] is False
    token = next(iter(world.graph.tokens))
    assert number["access_token"] == "****"
    # the code was exchanged with the sandbox app, and the app subscribed to the WABA
    exchange = world.graph.calls("/oauth/access_token")[-1]
    assert exchange.query["client_id"] == "sandbox-app"
    assert world.graph.wabas[str(number["waba_id"])].subscribed_apps
    listed = (await c.get(API)).json()["numbers"]
    assert [n["id"] for n in listed] == [number["id"]]
    assert token not in str(listed) and token not in repr(logs)
    raw = await pool.fetchval(
        "SELECT config::text FROM client_providers WHERE id = $1::uuid", number["id"]
    )
    assert token not in raw and str(number["phone_number_id"]) in raw
    # the code is single use, as Meta's: a replay is Graph's refusal, shown with its code
    again = await c.post(
        f"{API}/signup",
        json={
            "code": world.graph.calls("/oauth/access_token")[-1].query["code"],
            "waba_id": number["waba_id"],
            "phone_number_id": number["phone_number_id"],
        },
    )
    assert again.status_code == 400 and "código 100" in again.json()["detail"]
    assert tenant


async def test_registration_needs_exactly_six_digits_and_keeps_the_pin_sealed(
    world: World, owner_client: tuple[httpx.AsyncClient, str], pool: asyncpg.Pool
) -> None:
    c, _ = owner_client
    number = await _connect(c)
    url = f"{API}/numbers/{number['id']}/register"
    for bad in ("12345", "1234567", "12a456", ""):
        resp = await c.post(url, json={"pin": bad})
        assert resp.status_code == 422, bad
        item = resp.json()["detail"][0]
        assert item["loc"][-1] == "pin" and "exatamente 6 dígitos" in item["msg"]
    assert not world.graph.calls("/register")
    ok = await c.post(url, json={"pin": "246810"})
    assert ok.status_code == 200, ok.text
    assert ok.json()["registered"] is True
    call = world.graph.calls("/register")[-1]
    assert call.json == {"messaging_product": "whatsapp", "pin": "246810"}
    raw = await pool.fetchval(
        "SELECT config::text FROM client_providers WHERE id = $1::uuid", number["id"]
    )
    assert "246810" not in raw and "two_step_pin" in raw
    # Meta refuses another PIN for a registered number: its code and message reach the owner
    mismatch = await c.post(url, json={"pin": "111111"})
    assert mismatch.status_code == 400
    assert "133005" in mismatch.json()["detail"] and "PIN Mismatch" in mismatch.json()["detail"]


async def test_business_profile_is_validated_per_field_then_saved_at_graph(
    world: World, owner_client: tuple[httpx.AsyncClient, str]
) -> None:
    c, _ = owner_client
    number = await _connect(c)
    url = f"{API}/numbers/{number['id']}/profile"
    assert (await c.get(url)).json()["about"] is None
    bad = await c.post(
        url,
        json={
            "about": "x" * 140,
            "email": "não é e-mail",
            "websites": "https://a.com, https://b.com, https://c.com",
            "vertical": "PIZZA",
        },
    )
    assert bad.status_code == 422
    problems = {item["loc"][-1]: item["msg"] for item in bad.json()["detail"]}
    assert set(problems) == {"about", "email", "websites", "vertical"}
    assert "139" in problems["about"] and "2 sites" in problems["websites"]
    assert not [r for r in world.graph.calls("/whatsapp_business_profile") if r.method == "POST"]
    saved = await c.post(
        url,
        json={
            "about": "Pão quentinho toda hora",
            "address": "Rua das Flores, 10",
            "description": "",
            "email": "contato@padaria.com.br",
            "websites": "https://padaria.com.br",
            "vertical": "RESTAURANT",
        },
    )
    assert saved.status_code == 200, saved.text
    body = saved.json()
    assert body["about"] == "Pão quentinho toda hora" and body["websites"] == [
        "https://padaria.com.br"
    ]
    sent = [r for r in world.graph.calls("/whatsapp_business_profile") if r.method == "POST"][-1]
    assert sent.json["messaging_product"] == "whatsapp" and "description" not in sent.json
    nothing = await c.post(url, json={})
    assert nothing.status_code == 422


async def test_templates_list_create_with_status_and_delete(
    world: World, owner_client: tuple[httpx.AsyncClient, str]
) -> None:
    c, _ = owner_client
    number = await _connect(c)
    url = f"{API}/numbers/{number['id']}/templates"
    assert (await c.get(url)).json() == []
    bad = await c.post(url, json={"name": "Lembrete Pedido", "body": "Olá {{2}}"})
    assert bad.status_code == 422
    fields = {item["loc"][-1] for item in bad.json()["detail"]}
    assert fields == {"name", "body"}
    created = await c.post(
        url,
        json={
            "name": "lembrete_pedido",
            "category": "UTILITY",
            "language": "pt_BR",
            "header": "Seu pedido",
            "body": "Olá {{1}}, seu pedido {{2}} saiu para entrega.",
            "footer": "Padaria do Zé",
            "examples": ["Maria"],
        },
    )
    assert created.status_code == 201, created.text
    assert created.json()["status"] == "PENDING"
    sent = [r for r in world.graph.calls("/message_templates") if r.method == "POST"][-1].json
    assert sent["components"] == [
        {"type": "HEADER", "format": "TEXT", "text": "Seu pedido"},
        {
            "type": "BODY",
            "text": "Olá {{1}}, seu pedido {{2}} saiu para entrega.",
            "example": {"body_text": [["Maria", "exemplo 2"]]},
        },
        {"type": "FOOTER", "text": "Padaria do Zé"},
    ]
    listed = (await c.get(url)).json()
    assert [(t["name"], t["status"], t["header"]) for t in listed] == [
        ("lembrete_pedido", "PENDING", "Seu pedido")
    ]
    # Meta's own refusal (same name and language) comes back as a 400 with its message
    twice = await c.post(url, json={"name": "lembrete_pedido", "body": "Oi"})
    assert twice.status_code == 400 and "already exists" in twice.json()["detail"]
    gone = await c.delete(f"{url}/lembrete_pedido")
    assert gone.status_code == 204
    assert (await c.get(url)).json() == []
    missing = await c.delete(f"{url}/lembrete_pedido")
    assert missing.status_code == 400 and "código 100" in missing.json()["detail"]


async def test_graph_failures_are_4xx_or_502_and_a_dead_token_marks_the_number(
    world: World, owner_client: tuple[httpx.AsyncClient, str]
) -> None:
    c, _ = owner_client
    number = await _connect(c)
    url = f"{API}/numbers/{number['id']}/templates"
    world.graph.fail_next("message_templates", "server_error")
    down = await c.get(url)
    assert down.status_code == 502 and "Service temporarily unavailable" in down.json()["detail"]
    world.graph.fail_next("message_templates", "token_expired")
    expired = await c.get(url)
    assert expired.status_code == 409 and "código 190" in expired.json()["detail"]
    shown = (await c.get(API)).json()["numbers"][0]
    assert shown["healthy"] is False and "Session has expired" in shown["last_error"]
    world.server.stop()
    unreachable = await c.get(url)
    assert unreachable.status_code == 502 and "graph unreachable" in unreachable.json()["detail"]


async def test_agents_get_403_and_other_tenants_numbers_are_404(
    world: World,
    owner_client: tuple[httpx.AsyncClient, str],
    pool: asyncpg.Pool,
    redis_client: aioredis.Redis,
) -> None:
    c, tenant = owner_client
    number = await _connect(c)
    agent = await new_user(pool, tenant, "agent")
    other = await new_tenant(pool, "Outra Loja")
    stranger = await new_user(pool, other, "owner")
    app = console_app(world.settings, pool, redis_client)
    async with client_for(app) as a:
        await sign_in(a, agent["email"])
        assert (await a.get(API)).status_code == 403
        assert (
            await a.post(f"{API}/numbers/{number['id']}/register", json={"pin": "123456"})
        ).status_code == 403
        page = await a.get("/canais/meta")
        assert page.status_code == 403 and "Acesso não permitido" in page.text
    async with client_for(app) as s:
        await sign_in(s, stranger["email"])
        assert (await s.get(API)).json()["numbers"] == []
        for path in ("templates", "profile"):
            resp = await s.get(f"{API}/numbers/{number['id']}/{path}")
            assert resp.status_code == 404, path
        taken = await s.post(
            f"{API}/signup",
            json={
                "code": "x",
                "waba_id": number["waba_id"],
                "phone_number_id": number["phone_number_id"],
            },
        )
        assert taken.status_code == 409 and "outra conta" in taken.json()["detail"]


async def test_page_in_portuguese_and_with_meta_app_id_it_loads_facebooks_sdk(
    world: World, pool: asyncpg.Pool, redis_client: aioredis.Redis, test_env: dict[str, str]
) -> None:
    tenant = await new_tenant(pool)
    owner = await new_user(pool, tenant, "owner")
    async with client_for(console_app(world.settings, pool, redis_client)) as c:
        await sign_in(c, owner["email"])
        page = await c.get("/canais/meta")
        assert page.status_code == 200
        assert "Conectar com o Facebook" in page.text and 'data-mode="sandbox"' in page.text
        assert "imitação local" in page.text
        assert "connect.facebook.net" not in page.headers["content-security-policy"]
    admin = GraphAdminState(app_id="4242", app_secret="test-app-secret")
    real = console_settings(
        test_env,
        meta_graph_url=world.server.url,
        meta_app_id="4242",
        meta_signup_config_id="987654321",
    )
    with serve_in_thread(combined_graph_app(admin, GraphState())) as graph:
        real = real.model_copy(update={"meta_graph_url": graph.url})
        admin.add_waba("700000000000001", {"700000000000002": _phone()})
        admin.add_code("real-code", "EAAreal", "700000000000001")
        async with client_for(console_app(real, pool, redis_client)) as c:
            await sign_in(c, owner["email"])
            page = await c.get("/canais/meta")
            assert 'data-mode="sdk"' in page.text and 'data-app-id="4242"' in page.text
            assert 'data-config-id="987654321"' in page.text
            csp = page.headers["content-security-policy"]
            assert (
                "https://connect.facebook.net" in csp and "frame-src https://*.facebook.com" in csp
            )
            assert (await c.post(f"{API}/sandbox-signup", json={})).status_code == 404
            done = await c.post(
                f"{API}/signup",
                json={
                    "code": "real-code",
                    "waba_id": "700000000000001",
                    "phone_number_id": "700000000000002",
                    "event": "FINISH",
                },
            )
            assert done.status_code == 201, done.text
            assert admin.calls("/oauth/access_token")[-1].query["client_id"] == "4242"
