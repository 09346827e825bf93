"""The console's channels page and API against the fake Uazapi and LancePilot servers over
real loopback HTTP, on the run's database and Redis: create/attach, QR and pairing-code
connects that turn connected, the webhook registration, expiries and stalls said clearly
and retried, field-named 4xx, secrets sealed and masked, health, roles and tenants."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import asyncpg
import httpx
import pytest
import redis.asyncio as aioredis
from fastapi import FastAPI
from pydantic import SecretStr

from tests.fakes.lancepilot import LancePilotFakeState
from tests.fakes.lancepilot import create_app as lancepilot_app
from tests.fakes.server import ServerThread, serve_in_thread
from tests.fakes.uazapi import UazapiFakeState
from tests.fakes.uazapi import create_app as uazapi_app
from tests.integration.console_helpers import (
    client_for,
    console_app,
    console_settings,
    new_tenant,
    new_user,
    sign_in,
)

ADMIN_TOKEN = "uazapi-admin-token-0001"
OWNER_NUMBER = "5511900000001"
LP_TOKEN = "lp-bearer-token-channels"


@pytest.fixture(scope="module")
def uaz() -> Iterator[tuple[UazapiFakeState, ServerThread]]:
    state = UazapiFakeState(owner=OWNER_NUMBER)
    state.admin_token = ADMIN_TOKEN
    with serve_in_thread(uazapi_app(state)) as server:
        yield state, server


@pytest.fixture(scope="module")
def lp() -> Iterator[tuple[LancePilotFakeState, ServerThread]]:
    state = LancePilotFakeState({LP_TOKEN}, workspaces={"ws-7"})
    with serve_in_thread(lancepilot_app(state)) as server:
        yield state, server


@dataclass
class Env:
    """The fakes and the run's stores; `app` builds the console with settings pointing at them."""

    uaz: UazapiFakeState
    uaz_url: str
    lp: LancePilotFakeState
    lp_url: str
    pool: asyncpg.Pool
    redis: aioredis.Redis
    test_env: dict[str, str]

    def app(self, **overrides: Any) -> FastAPI:
        fields: dict[str, Any] = {
            "uazapi_url": self.uaz_url,
            "lancepilot_url": self.lp_url + "/api/v3",
            "tool_allowed_hosts": "127.0.0.1",
            "public_base_url": "https://hooks.example.com",
            "channels_http_timeout_s": 2.0,
        }
        settings = console_settings(self.test_env, **{**fields, **overrides})
        return console_app(settings, self.pool, self.redis)

    async def owner(self, c: httpx.AsyncClient, tenant: str | None = None) -> str:
        """Sign `c` in as the owner of `tenant` (a new one by default); the tenant id."""
        tenant = tenant or await new_tenant(self.pool)
        owner = await new_user(self.pool, tenant, "owner")
        await sign_in(c, owner["email"])
        return tenant

    async def attach(self, c: httpx.AsyncClient, name: str) -> tuple[str, str]:
        """A disconnected instance on the fake, attached by `c`'s owner: (id, token)."""
        token = f"{name.lower()}-{uuid.uuid4().hex}"
        self.uaz.add_instance(token)
        resp = await c.post(
            "/api/channels/uazapi",
            json={"mode": "attach", "name": name, "url": self.uaz_url, "token": token},
        )
        assert resp.status_code == 201, resp.text
        return str(resp.json()["id"]), token


@pytest.fixture
def env(
    uaz: tuple[UazapiFakeState, ServerThread],
    lp: tuple[LancePilotFakeState, ServerThread],
    pool: asyncpg.Pool,
    redis_client: aioredis.Redis,
    test_env: dict[str, str],
) -> Env:
    uaz[0].connect_delay_s = 0.5
    uaz[0].code_ttl_s = 120.0
    uaz[0].failures.clear()
    lp[0].failures.clear()
    lp[0].window_default = True
    return Env(uaz[0], uaz[1].url, lp[0], lp[1].url, pool, redis_client, test_env)


async def until(check: Callable[[], Awaitable[Any]], timeout: float = 10) -> Any:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(0.2)
    raise AssertionError(f"not reached in {timeout}s (last: {last!r})")


def field_of(resp: httpx.Response) -> str:
    assert resp.status_code == 422, resp.text
    return str(resp.json()["detail"][0]["loc"][-1])


async def sealed_token(pool: asyncpg.Pool, instance_id: str) -> str:
    value = await pool.fetchval(
        "SELECT config->>'token' FROM client_providers WHERE id = $1", uuid.UUID(instance_id)
    )
    return str(value)


async def test_create_then_qr_connect_turns_connected_and_registers_the_webhook(
    env: Env, capfd: pytest.CaptureFixture[str]
) -> None:
    state = env.uaz
    async with client_for(env.app(uazapi_admin_token=SecretStr(ADMIN_TOKEN))) as c:
        await env.owner(c)
        created = await c.post("/api/channels/uazapi", json={"mode": "create", "name": "Loja"})
        assert created.status_code == 201, created.text
        inst = created.json()
        token = next(t for t, i in state.instances.items() if i.name == "Loja")
        assert inst["config"]["token"] == "****" and token not in created.text
        assert inst["webhook_url"].startswith("https://hooks.example.com/uazapi/webhook/")
        assert state.after(0, "/instance/create")[-1].headers["admintoken"] == ADMIN_TOKEN
        sealed = await sealed_token(env.pool, inst["id"])
        assert sealed.startswith("enc:") and token not in sealed

        connect = await c.post(f"/api/channels/uazapi/{inst['id']}/connect", json={})
        assert connect.status_code == 200, connect.text
        body = connect.json()
        assert body["status"] == "connecting" and body["connected"] is False
        assert body["qrcode"].startswith("data:image/png;base64,iVBOR")
        assert body["paircode"] is None and body["webhook_registered"] is True
        hook = state.webhooks[token]
        assert hook["url"] == inst["webhook_url"] and hook["enabled"] is True
        assert set(hook["events"]) == {"messages", "connection"}

        async def connected() -> dict[str, Any] | None:
            resp = await c.get(f"/api/channels/uazapi/{inst['id']}/status")
            assert resp.status_code == 200, resp.text
            return resp.json() if resp.json()["connected"] else None

        done = await until(connected)
        assert done["status"] == "connected" and done["number"] == OWNER_NUMBER
        assert done["qrcode"] is None and done["timed_out"] is False
        stored = await env.pool.fetchval(
            "SELECT phone_number FROM client_providers WHERE id = $1", uuid.UUID(inst["id"])
        )
        assert stored == OWNER_NUMBER

        listed = (await c.get("/api/channels")).json()["channels"]
        assert [(x["id"], x["provider_type"], x["phone_number"]) for x in listed] == [
            (inst["id"], "uazapi", OWNER_NUMBER)
        ]
        assert listed[0]["config"]["token"] == "****"
        assert listed[0]["health"]["state"] == "idle"

        off = await c.post(f"/api/channels/uazapi/{inst['id']}/disconnect")
        assert off.status_code == 200 and off.json()["status"] == "disconnected"
        assert state.instances[token].status == "disconnected"
        again = await c.get(f"/api/channels/uazapi/{inst['id']}/status")
        assert again.json()["status"] == "disconnected"
    # the instance token was never written to the logs
    logged = capfd.readouterr()
    assert "console_login" in logged.out  # the logs were captured here
    assert token not in logged.out and token not in logged.err


async def test_attach_and_connect_by_pairing_code(env: Env) -> None:
    async with client_for(env.app()) as c:
        await env.owner(c)
        # this deployment has no admin token: creating is refused, attaching works
        refused = await c.post("/api/channels/uazapi", json={"mode": "create", "name": "X"})
        assert refused.status_code == 409 and "UAZAPI_ADMIN_TOKEN" in refused.json()["detail"]
        inst, token = await env.attach(c, "Centro")
        seq = env.uaz.after(0)[-1].seq
        pair = await c.post(
            f"/api/channels/uazapi/{inst}/connect", json={"phone": "+55 (11) 99999-8888"}
        )
        assert pair.status_code == 200, pair.text
        assert pair.json()["paircode"] and pair.json()["qrcode"] is None
        call = env.uaz.after(seq, "/instance/connect")[0]
        assert call.body == {"phone": "5511999998888"} and call.headers["token"] == token
        # the same name twice is refused on the field; a trailing slash is dropped
        twice = await c.post(
            "/api/channels/uazapi",
            json={"mode": "attach", "name": "Centro", "url": env.uaz_url + "/", "token": token},
        )
        assert field_of(twice) == "name"
        [item] = (await c.get("/api/channels")).json()["channels"]
        assert item["config"]["url"] == env.uaz_url


async def test_bad_input_answers_4xx_naming_the_field(env: Env) -> None:
    async with client_for(env.app()) as c:
        tenant = await env.owner(c)
        token = "bad-input-" + uuid.uuid4().hex
        env.uaz.add_instance(token)
        url = env.uaz_url
        cases = {
            "mode": {"mode": "steal", "name": "A", "url": url, "token": token},
            "name": {"mode": "attach", "name": "", "url": url, "token": token},
            # PostgreSQL cannot store NUL: refused at the door, not a 500 at the database
            "token": {"mode": "attach", "name": "A", "url": url, "token": "a\x00b"},
            "url": {"mode": "attach", "name": "A", "token": token},
        }
        missing_token = {"mode": "attach", "name": "A", "url": url}
        assert field_of(await c.post("/api/channels/uazapi", json=missing_token)) == "token"
        for field, body in cases.items():
            assert field_of(await c.post("/api/channels/uazapi", json=body)) == field, field
        # a private address is refused before any request leaves (the guarded client)
        private = {"mode": "attach", "name": "A", "url": "https://10.1.2.3", "token": token}
        resp = await c.post("/api/channels/uazapi", json=private)
        assert field_of(resp) == "url"
        assert resp.json()["detail"][0]["msg"] == (
            "endereço recusado: o endereço aponta para uma rede interna"
        )
        # a token Uazapi refuses is the token field's fault
        wrong = {"mode": "attach", "name": "A", "url": url, "token": "not-a-real-token"}
        resp = await c.post("/api/channels/uazapi", json=wrong)
        assert field_of(resp) == "token" and "recusou o token" in resp.text
        inst, _ = await env.attach(c, "Boa")
        for phone in ("abc", "123", "5511999998888999999"):
            resp = await c.post(f"/api/channels/uazapi/{inst}/connect", json={"phone": phone})
            assert field_of(resp) == "phone", phone
        unknown = await c.post(f"/api/channels/uazapi/{inst}/connect", json={"number": "1"})
        assert field_of(unknown) == "number"
        # nothing of the refused requests was stored
        count = await env.pool.fetchval(
            "SELECT count(*) FROM client_providers WHERE client_id = $1", uuid.UUID(tenant)
        )
        assert count == 1


async def test_a_connect_that_times_out_says_so_and_can_be_retried(env: Env) -> None:
    state = env.uaz
    app = env.app(channels_http_timeout_s=0.5, uazapi_connect_timeout_s=1.0)
    async with client_for(app) as c:
        await env.owner(c)
        inst, _ = await env.attach(c, "Lenta")
        # 1. Uazapi does not answer the connect call in time
        state.stall_next(1.5, path="/instance/connect")
        stalled = await c.post(f"/api/channels/uazapi/{inst}/connect", json={})
        assert stalled.status_code == 504
        assert stalled.json()["detail"] == (
            "a Uazapi não respondeu em 0.5 s. Tente de novo em instantes."
        )
        # 2. the code is shown but nobody scans it: expired after UAZAPI_CONNECT_TIMEOUT_S
        state.connect_delay_s = None
        retry = await c.post(f"/api/channels/uazapi/{inst}/connect", json={})
        assert retry.status_code == 200 and retry.json()["status"] == "connecting"
        waiting = await c.get(f"/api/channels/uazapi/{inst}/status")
        assert waiting.json()["status"] == "connecting" and waiting.json()["qrcode"]
        await asyncio.sleep(1.1)
        expired = (await c.get(f"/api/channels/uazapi/{inst}/status")).json()
        assert expired["timed_out"] is True and expired["status"] == "disconnected"
        assert expired["qrcode"] is None
        # 3. Uazapi drops the code itself (its own 2-minute limit): also reported as expired
        state.code_ttl_s = 0.2
        await c.post(f"/api/channels/uazapi/{inst}/connect", json={})
        await asyncio.sleep(0.4)
        dropped = (await c.get(f"/api/channels/uazapi/{inst}/status")).json()
        assert dropped["timed_out"] is True
        # 4. asked again, it connects
        state.connect_delay_s, state.code_ttl_s = 0.2, 120.0
        again = await c.post(f"/api/channels/uazapi/{inst}/connect", json={})
        assert again.status_code == 200

        async def connected() -> bool:
            resp = await c.get(f"/api/channels/uazapi/{inst}/status")
            return bool(resp.json()["connected"])

        assert await until(connected)


async def test_owners_only_and_tenant_scoped(env: Env) -> None:
    app = env.app()
    async with client_for(app) as a:
        tenant_a = await env.owner(a)
        inst, _ = await env.attach(a, "A")
    async with client_for(app) as anonymous:
        page = await anonymous.get("/canais")
        assert page.status_code == 303 and page.headers["location"] == "/login?next=%2Fcanais"
        # a poll after the session ended: a bare 401 (the script goes to /login)
        poll = await anonymous.get(f"/canais/uazapi/{inst}/painel", headers={"HX-Request": "true"})
        assert poll.status_code == 401 and poll.text == ""
    agent = await new_user(env.pool, tenant_a, "agent")
    async with client_for(app) as c:
        await sign_in(c, agent["email"])
        assert (await c.get("/api/channels")).status_code == 403
        assert (await c.post(f"/api/channels/uazapi/{inst}/connect", json={})).status_code == 403
        page = await c.get("/canais")
        assert page.status_code == 403 and "Acesso não permitido" in page.text
        assert 'href="/canais"' not in page.text
        assert (await c.get(f"/canais/uazapi/{inst}/painel")).status_code == 403
    async with client_for(app) as b:
        await env.owner(b)
        assert (await b.get("/api/channels")).json() == {"channels": []}
        for method, path in (
            ("GET", f"/api/channels/uazapi/{inst}/status"),
            ("POST", f"/api/channels/uazapi/{inst}/connect"),
            ("POST", f"/api/channels/uazapi/{inst}/disconnect"),
            ("POST", f"/api/channels/lancepilot/{inst}/test"),
            ("GET", "/api/channels/uazapi/not-a-uuid/status"),
        ):
            body = {"phone": "5511999998888"} if method == "POST" else None
            resp = await b.request(method, path, json=body)
            assert resp.status_code == 404, (path, resp.text)
        assert (await b.get(f"/canais/uazapi/{inst}/painel")).status_code == 404


async def test_lancepilot_token_masked_webhook_shown_and_a_real_test_message(env: Env) -> None:
    state = env.lp
    async with client_for(env.app()) as c:
        await env.owner(c)
        wrong = await c.put(
            "/api/channels/lancepilot", json={"token": "nope-token", "workspace_id": "ws-7"}
        )
        assert field_of(wrong) == "token" and "recusou o token" in wrong.text
        missing = await c.put("/api/channels/lancepilot", json={"token": LP_TOKEN})
        assert field_of(missing) == "workspace_id"
        saved = await c.put(
            "/api/channels/lancepilot",
            json={"token": LP_TOKEN, "workspace_id": "ws-7", "number": "55 11 90000-0077"},
        )
        assert saved.status_code == 200, saved.text
        inst = saved.json()
        assert inst["config"]["token"] == "****" and LP_TOKEN not in saved.text
        assert inst["phone_number"] == "5511900000077"
        assert inst["webhook_url"].startswith("https://hooks.example.com/lancepilot/webhook/")
        # the masked token sent back keeps the stored one; the same row is updated
        kept = await c.put(
            "/api/channels/lancepilot", json={"token": "****", "workspace_id": "ws-7"}
        )
        assert kept.status_code == 200 and kept.json()["id"] == inst["id"]
        sealed = await sealed_token(env.pool, inst["id"])
        assert sealed.startswith("enc:") and LP_TOKEN not in sealed

        test_url = f"/api/channels/lancepilot/{inst['id']}/test"
        assert field_of(await c.post(test_url, json={"phone": "12"})) == "phone"
        seq = state.after(0)[-1].seq
        sent = await c.post(test_url, json={"phone": "5511988887777"})
        assert sent.status_code == 200, sent.text
        assert sent.json()["status"] == "sent" and sent.json()["message_id"]
        call = state.after(seq)[0]
        assert call.path == "/api/v3/workspaces/ws-7/contacts/number/5511988887777/messages/text"
        assert call.headers["authorization"] == f"Bearer {LP_TOKEN}"
        assert call.body["text"]["body"].startswith("Mensagem de teste")
        # outside the 24-hour window LancePilot refuses free text: said with its words
        state.window_default = False
        closed = await c.post(test_url, json={"phone": "5511988887777"})
        assert closed.status_code == 409
        assert "24-hour window" in closed.json()["detail"] and "janela" in closed.json()["detail"]


async def test_health_shows_last_inbound_last_send_and_last_error(env: Env) -> None:
    pool = env.pool
    tenant = await new_tenant(pool)
    tid = uuid.UUID(tenant)
    inst = await pool.fetchval(
        "INSERT INTO client_providers (client_id, provider_type, instance_name, config)"
        " VALUES ($1, 'uazapi', 'Saúde', '{}') RETURNING id",
        tid,
    )
    conv = await pool.fetchval(
        "INSERT INTO active_conversations (client_id, contact_key, provider, provider_instance_id)"
        " VALUES ($1, '5511977776666', 'uazapi', $2) RETURNING id",
        tid,
        inst,
    )
    rows = [
        ("in", "customer", "received", "3 minutes", None, None),
        ("out", "bot", "sent", "2 minutes", "sent_at", None),
        ("out", "bot", "failed", "1 minute", "failed_at", "HTTP 401: token"),
    ]
    for direction, role, status, ago, stamp, error in rows:
        at = f"now() - interval '{ago}'"
        columns = ", created_at" + (f", {stamp}" if stamp else "")
        values = at + (f", {at}" if stamp else "")
        await pool.execute(
            "INSERT INTO chat_messages (client_id, conversation_id, direction, role, provider,"
            f" provider_instance_id, status, error_detail{columns})"
            f" VALUES ($1, $2, $3, $4, 'uazapi', $5, $6, $7, {values})",
            tid,
            conv,
            direction,
            role,
            inst,
            status,
            error,
        )
    async with client_for(env.app()) as c:
        await env.owner(c, tenant)
        [item] = (await c.get("/api/channels")).json()["channels"]
        health = item["health"]
        assert health["state"] == "ok"
        assert health["last_inbound_at"] and health["last_send_at"]
        assert health["last_inbound_at"] < health["last_send_at"] < health["last_error_at"]
        assert health["last_error"] == "HTTP 401: token"
        page = await c.get("/canais")
        assert page.status_code == 200
        assert "HTTP 401: token" in page.text and "Funcionando" in page.text


async def test_page_renders_sections_and_the_panel_polls_until_connected(env: Env) -> None:
    async with client_for(env.app()) as c:
        await env.owner(c)
        page = await c.get("/canais")
        assert page.status_code == 200
        html = page.text
        assert 'href="/canais" aria-current="page"' in html
        assert 'id="section-uazapi"' in html and 'id="section-lancepilot"' in html
        assert "Nenhum canal ainda" in html
        inst, token = await env.attach(c, "Vitrine")
        page = await c.get("/canais")
        assert f'hx-get="/canais/uazapi/{inst}/painel"' in page.text and token not in page.text
        panel = await c.get(f"/canais/uazapi/{inst}/painel")
        assert 'data-status="disconnected"' in panel.text and "Conectar com QR code" in panel.text
        # a form post without the session's CSRF token changes nothing
        forged = await c.post(f"/canais/uazapi/{inst}/conectar", headers={"X-CSRF-Token": "x"})
        assert forged.status_code == 403
        assert (await c.get(f"/canais/uazapi/{inst}/conectar")).status_code == 404
        shown = await c.post(f"/canais/uazapi/{inst}/conectar")
        assert 'data-status="connecting"' in shown.text
        assert 'src="data:image/png;base64,' in shown.text and 'hx-trigger="every 2s"' in shown.text
        bad = await c.post(f"/canais/uazapi/{inst}/conectar", data={"phone": "12"})
        assert 'aria-invalid="true"' in bad.text and "DDI" in bad.text

        async def connected() -> str | None:
            text = (await c.get(f"/canais/uazapi/{inst}/painel")).text
            return text if 'data-status="connected"' in text else None

        done = await until(connected)
        assert "every 2s" not in done and "+" + OWNER_NUMBER in done
