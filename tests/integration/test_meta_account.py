"""Meta account management: Embedded Signup, templates and business profile against a fake Graph."""

from __future__ import annotations

import json
import random
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from meta_gateway.admin.meta_account import meta_account_router
from meta_gateway.admin.tenants import tenants_router
from tests.conftest import TEST_ENCRYPTION_KEY
from tests.fakes.server import ServerThread, free_port, serve_in_thread
from wacommon.infra.crypto import SecretBox
from wacommon.infra.settings import Settings
from wacommon.providers.meta.admin import GraphCallFailed, MetaAdminClient
from walocal.graph_admin import combined_graph_app, make_graph_admin_app
from walocal.graph_admin_state import GraphAdminState
from walocal.graph_state import GraphState

AUTH = {"Authorization": "Bearer test-admin-token"}
APP_ID = "987654321"
BOX = SecretBox(TEST_ENCRYPTION_KEY)


def graph_id() -> str:
    return str(random.randrange(10**14, 10**15))


@dataclass
class Env:
    api: httpx.AsyncClient
    graph: GraphAdminState
    pool: asyncpg.Pool
    url: str


@pytest.fixture()
def fake_graph(settings: Settings) -> Iterator[tuple[GraphAdminState, ServerThread]]:
    secret = settings.meta_app_secret.get_secret_value() if settings.meta_app_secret else ""
    state = GraphAdminState(app_id=APP_ID, app_secret=secret)
    with serve_in_thread(make_graph_admin_app(state)) as srv:
        yield state, srv


@pytest.fixture()
async def env(
    pool: asyncpg.Pool, settings: Settings, fake_graph: tuple[GraphAdminState, ServerThread]
) -> AsyncIterator[Env]:
    state, srv = fake_graph
    own = settings.model_copy(update={"meta_graph_url": srv.url, "meta_app_id": APP_ID})
    app = FastAPI()
    app.include_router(tenants_router(own, pool, BOX))
    app.include_router(meta_account_router(own, pool, BOX))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        yield Env(c, state, pool, srv.url)


async def new_tenant(env: Env, name: str = "Loja") -> str:
    resp = await env.api.post("/admin/clients", json={"name": name}, headers=AUTH)
    assert resp.status_code == 201, resp.text
    return str(resp.json()["id"])


def new_waba(env: Env, display: str | None = None) -> tuple[str, str]:
    # each number has its own display number, as on Meta (one active owner per display number)
    waba, phone = graph_id(), graph_id()
    shown = display or f"+55 11 9{phone[-8:-4]}-{phone[-4:]}"
    env.graph.add_waba(waba, {phone: shown}, verified_name="Padaria Pão Quente")
    return waba, phone


async def signup(
    env: Env, cid: str, waba: str, phone: str, code: str, **extra: str
) -> httpx.Response:
    body = {"code": code, "waba_id": waba, "phone_number_id": phone, **extra}
    return await env.api.post(f"/admin/clients/{cid}/meta/embedded-signup", json=body, headers=AUTH)


async def signed_up(env: Env, cid: str) -> tuple[str, str, str]:
    """A tenant with a Meta instance: (provider_id, waba_id, phone_id)."""
    waba, phone = new_waba(env)
    env.graph.add_code(f"code-{phone}", f"EAAtoken{phone}", waba)
    resp = await signup(env, cid, waba, phone, f"code-{phone}")
    assert resp.status_code == 201, resp.text
    return resp.json()["id"], waba, phone


async def test_signup_stores_a_default_meta_instance_with_the_token_sealed(
    env: Env, corpus_dir: str
) -> None:
    cid = await new_tenant(env)
    manual = await env.api.post(
        f"/admin/clients/{cid}/providers",
        headers=AUTH,
        json={
            "provider_type": "meta",
            "instance_name": "Antigo",
            "is_default": True,
            "config": {"phone_id": graph_id(), "access_token": "EAAold-token-000000"},
        },
    )
    waba, phone = new_waba(env, "+55 11 98888-7777")
    env.graph.add_code("one-time-code", "EAAbusiness-token-123456789", waba)

    resp = await signup(env, cid, waba, phone, "one-time-code")

    assert resp.status_code == 201, resp.text
    out = resp.json()
    assert out["provider_type"] == "meta" and out["is_default"] and out["registered"]
    assert out["config"]["waba_id"] == waba and out["config"]["phone_id"] == phone
    assert out["config"]["display_phone_number"] == "+55 11 98888-7777"
    assert "EAAbusiness-token-123456789" not in resp.text
    pin = out["pin"]
    assert pin is not None and len(pin) == 6 and pin.isdigit()
    row = await env.pool.fetchrow(
        "SELECT config, external_id, phone_number, is_default FROM client_providers"
        " WHERE client_id = $1 AND id = $2",
        cid,
        out["id"],
    )
    assert row is not None
    assert row["external_id"] == phone and row["phone_number"] == "5511988887777"
    assert row["config"]["access_token"].startswith("enc:")
    assert "EAAbusiness-token-123456789" not in json.dumps(row["config"])
    assert BOX.open(row["config"])["access_token"] == "EAAbusiness-token-123456789"
    assert row["config"]["app_id"] == APP_ID and row["config"]["waba_id"] == waba
    assert row["config"]["two_step_pin"] != pin  # sealed too
    old = await env.pool.fetchval(
        "SELECT is_default FROM client_providers WHERE client_id = $1 AND id = $2",
        cid,
        manual.json()["id"],
    )
    assert old is False

    exchange = env.graph.calls("/oauth/access_token")[0]
    assert exchange.method == "GET" and exchange.authorization is None
    assert exchange.query == {
        "client_id": APP_ID,
        "client_secret": env.graph.app_secret,
        "code": "one-time-code",
    }
    subscribe = env.graph.calls("/subscribed_apps")[0]
    assert subscribe.path.endswith(f"/{waba}/subscribed_apps")
    assert subscribe.authorization == "Bearer EAAbusiness-token-123456789"
    register = env.graph.calls("/register")[0]
    corpus = json.loads(
        (Path(corpus_dir) / "meta/send/register_phone_number.request.json").read_text()
    )
    assert register.json == {**corpus, "pin": pin}
    assert env.graph.phones[phone].pin == pin and APP_ID in env.graph.wabas[waba].subscribed_apps


async def test_a_second_signup_of_the_same_number_refreshes_the_token(env: Env) -> None:
    cid = await new_tenant(env)
    waba, phone = new_waba(env)
    env.graph.add_code("first", "EAAfirst-token-0000001", waba)
    env.graph.add_code("second", "EAAsecond-token-000002", waba)

    first = await signup(env, cid, waba, phone, "first")
    second = await signup(env, cid, waba, phone, "second")

    assert first.status_code == 201 and second.status_code == 201, second.text
    assert second.json()["id"] == first.json()["id"]
    assert second.json()["pin"] is None  # shown once; the stored PIN re-registers the number
    registers = env.graph.calls("/register")
    assert len(registers) == 2 and registers[1].json["pin"] == first.json()["pin"]
    rows = await env.pool.fetch("SELECT config FROM client_providers WHERE client_id = $1", cid)
    assert len(rows) == 1
    assert BOX.open(rows[0]["config"])["access_token"] == "EAAsecond-token-000002"


async def test_a_bad_code_answers_400_with_the_graph_reason_and_stores_nothing(env: Env) -> None:
    cid = await new_tenant(env)
    waba, phone = new_waba(env)

    resp = await signup(env, cid, waba, phone, "expired-or-unknown-code")

    assert resp.status_code == 400
    detail = resp.json()["detail"]
    assert detail["step"] == "exchange_code" and detail["code"] == "100"
    assert "Invalid verification code" in detail["message"]
    assert env.graph.app_secret not in resp.text and "expired-or-unknown-code" not in resp.text
    assert (
        await env.pool.fetchval("SELECT count(*) FROM client_providers WHERE client_id = $1", cid)
        == 0
    )
    assert env.graph.calls("/subscribed_apps") == []


async def test_a_failed_registration_answers_400_without_the_token_and_stores_nothing(
    env: Env,
) -> None:
    cid = await new_tenant(env)
    waba, phone = new_waba(env)
    env.graph.add_code("code", "EAAsecret-business-token-42", waba)
    env.graph.fail_next("register", "pin_mismatch")

    resp = await signup(env, cid, waba, phone, "code", pin="123456")

    assert resp.status_code == 400
    assert (
        resp.json()["detail"]["code"] == "133005"
        and resp.json()["detail"]["step"] == "register_number"
    )
    assert "EAAsecret-business-token-42" not in resp.text and "123456" not in resp.text
    assert (
        await env.pool.fetchval("SELECT count(*) FROM client_providers WHERE client_id = $1", cid)
        == 0
    )


async def test_a_given_pin_is_used_and_not_echoed_and_coexistence_skips_registration(
    env: Env,
) -> None:
    cid = await new_tenant(env)
    waba, phone = new_waba(env)
    env.graph.add_code("a", "EAAtoken-a-0000000001", waba)
    resp = await signup(env, cid, waba, phone, "a", pin="246810")
    assert resp.status_code == 201 and resp.json()["pin"] is None
    assert env.graph.calls("/register")[0].json["pin"] == "246810"

    other = await new_tenant(env, "Coexistência")
    waba2, phone2 = new_waba(env, "+55 21 97777-1111")
    env.graph.add_code("b", "EAAtoken-b-0000000002", waba2)
    resp = await signup(
        env, other, waba2, phone2, "b", event="FINISH_WHATSAPP_BUSINESS_APP_ONBOARDING"
    )
    assert resp.status_code == 201 and resp.json()["registered"] is False
    assert resp.json()["pin"] is None
    assert [r for r in env.graph.calls("/register") if phone2 in r.path] == []


async def test_a_number_connected_to_another_client_is_refused(env: Env) -> None:
    owner, intruder = await new_tenant(env, "Dona"), await new_tenant(env, "Outra")
    _, waba, phone = await signed_up(env, owner)
    env.graph.add_code("intruder", "EAAintruder-token-00001", waba)

    resp = await signup(env, intruder, waba, phone, "intruder")

    assert resp.status_code == 409
    assert env.graph.calls("/oauth/access_token")[-1].query["code"] != "intruder"


async def test_signup_validation_names_the_field(env: Env) -> None:
    cid = await new_tenant(env)
    resp = await env.api.post(
        f"/admin/clients/{cid}/meta/embedded-signup",
        headers=AUTH,
        json={"code": "c", "waba_id": "../x", "phone_number_id": "1"},
    )
    assert resp.status_code == 422
    assert ["body", "waba_id"] in [e["loc"] for e in resp.json()["detail"]]
    resp = await signup(env, cid, "1", "2", "c", pin="12")
    assert resp.status_code == 422 and resp.json()["detail"][0]["loc"] == ["body", "pin"]


async def test_templates_are_created_and_listed(env: Env) -> None:
    cid = await new_tenant(env)
    _, waba, _ = await signed_up(env, cid)
    template = {
        "name": "pedido_confirmado",
        "category": "UTILITY",
        "language": "pt_BR",
        "parameter_format": "NAMED",
        "components": [
            {
                "type": "BODY",
                "text": "Olá {{nome}}, seu pedido foi confirmado.",
                "example": {"body_text_named_params": [{"param_name": "nome", "example": "Ana"}]},
            }
        ],
    }

    created = await env.api.post(
        f"/admin/clients/{cid}/meta/templates", json=template, headers=AUTH
    )

    assert created.status_code == 201, created.text
    assert created.json()["status"] == "PENDING" and created.json()["category"] == "UTILITY"
    sent = env.graph.calls("/message_templates")[-1]
    assert sent.method == "POST" and sent.json == template and f"/{waba}/" in sent.path
    listed = await env.api.get(f"/admin/clients/{cid}/meta/templates", headers=AUTH)
    assert listed.status_code == 200
    assert [t["name"] for t in listed.json()] == ["pedido_confirmado"]
    approved = await env.api.get(
        f"/admin/clients/{cid}/meta/templates?status=APPROVED", headers=AUTH
    )
    assert approved.json() == []
    duplicate = await env.api.post(
        f"/admin/clients/{cid}/meta/templates", json=template, headers=AUTH
    )
    assert duplicate.status_code == 400 and duplicate.json()["detail"]["code"] == "100"


async def test_template_validation_names_the_field(env: Env) -> None:
    cid = await new_tenant(env)
    await signed_up(env, cid)
    resp = await env.api.post(
        f"/admin/clients/{cid}/meta/templates",
        headers=AUTH,
        json={
            "name": "Nome Ruim",
            "category": "UTILITY",
            "language": "pt_BR",
            "components": [{"type": "BODY", "text": "x"}],
        },
    )
    assert resp.status_code == 422
    assert resp.json()["detail"][0]["loc"] == ["body", "name"]


async def test_business_profile_is_read_and_updated(env: Env) -> None:
    cid = await new_tenant(env)
    _, _, phone = await signed_up(env, cid)
    url = f"/admin/clients/{cid}/meta/business-profile"

    patched = await env.api.patch(
        url,
        headers=AUTH,
        json={
            "about": "Pães artesanais",
            "websites": ["https://padaria.example"],
            "vertical": "RESTAURANT",
        },
    )

    assert patched.status_code == 200, patched.text
    assert patched.json()["about"] == "Pães artesanais"
    assert patched.json()["websites"] == ["https://padaria.example"]
    posted = next(r for r in env.graph.calls("/whatsapp_business_profile") if r.method == "POST")
    assert posted.json["messaging_product"] == "whatsapp" and f"/{phone}/" in posted.path
    got = await env.api.get(url, headers=AUTH)
    assert got.status_code == 200 and got.json()["vertical"] == "RESTAURANT"
    assert (await env.api.patch(url, headers=AUTH, json={"vertical": "BAKERY"})).status_code == 422
    assert (await env.api.patch(url, headers=AUTH, json={})).status_code == 422


async def test_provider_id_selects_the_instance_and_other_clients_ids_are_not_found(
    env: Env,
) -> None:
    mine, theirs = await new_tenant(env, "A"), await new_tenant(env, "B")
    my_provider, _, my_phone = await signed_up(env, mine)
    their_provider, _, _ = await signed_up(env, theirs)

    ok = await env.api.get(
        f"/admin/clients/{mine}/meta/business-profile",
        params={"provider_id": my_provider},
        headers=AUTH,
    )
    assert ok.status_code == 200
    assert env.graph.calls("/whatsapp_business_profile")[-1].path.endswith(
        f"/{my_phone}/whatsapp_business_profile"
    )
    for path in ("business-profile", "templates"):
        resp = await env.api.get(
            f"/admin/clients/{mine}/meta/{path}",
            params={"provider_id": their_provider},
            headers=AUTH,
        )
        assert resp.status_code == 404
    unknown = "00000000-0000-0000-0000-000000000000"
    assert (
        await env.api.get(f"/admin/clients/{unknown}/meta/templates", headers=AUTH)
    ).status_code == 404
    bare = await new_tenant(env, "Sem Meta")
    assert (
        await env.api.get(f"/admin/clients/{bare}/meta/templates", headers=AUTH)
    ).status_code == 404
    uazapi = await env.api.post(
        f"/admin/clients/{mine}/providers",
        headers=AUTH,
        json={
            "provider_type": "uazapi",
            "config": {"url": "https://x.uazapi.com", "token": "t0k3n-123"},
        },
    )
    wrong = await env.api.get(
        f"/admin/clients/{mine}/meta/templates",
        params={"provider_id": uazapi.json()["id"]},
        headers=AUTH,
    )
    assert wrong.status_code == 422 and "provider_id" in wrong.text


async def test_an_expired_token_answers_409_and_marks_the_instance_unhealthy(env: Env) -> None:
    cid = await new_tenant(env)
    provider, _, phone = await signed_up(env, cid)
    env.graph.fail_next("message_templates", "token_expired")

    resp = await env.api.get(f"/admin/clients/{cid}/meta/templates", headers=AUTH)

    assert resp.status_code == 409 and resp.json()["detail"]["code"] == "190"
    assert f"EAAtoken{phone}" not in resp.text
    healthy = await env.pool.fetchval(
        "SELECT healthy FROM client_providers WHERE client_id = $1 AND id = $2", cid, provider
    )
    assert healthy is False


async def test_requests_without_the_admin_token_are_refused(env: Env) -> None:
    cid = await new_tenant(env)
    base = f"/admin/clients/{cid}/meta"
    assert (await env.api.post(f"{base}/embedded-signup", json={})).status_code == 401
    assert (await env.api.get(f"{base}/templates")).status_code == 401
    assert (await env.api.post(f"{base}/templates", json={})).status_code == 401
    assert (
        await env.api.get(f"{base}/business-profile", headers={"Authorization": "Bearer wrong"})
    ).status_code == 401
    assert (await env.api.patch(f"{base}/business-profile", json={})).status_code == 401


async def test_client_follows_template_pages_and_accepts_business_token_key(env: Env) -> None:
    waba, _ = new_waba(env)
    env.graph.token_key = "business_token"
    env.graph.add_code("k", "EAApaging-token-000001", waba)
    env.graph.wabas[waba].templates = [
        {
            "id": str(i),
            "name": f"t{i}",
            "language": "pt_BR",
            "status": "APPROVED",
            "category": "UTILITY",
        }
        for i in range(5)
    ]
    async with httpx.AsyncClient() as http:
        meta = MetaAdminClient(
            http, base_url=env.url, version="v23.0", app_id=APP_ID, app_secret=env.graph.app_secret
        )
        token = await meta.exchange_code("k")
        names = [t["name"] for t in await meta.list_templates(waba, token, page_size=2)]
    assert token == "EAApaging-token-000001"
    assert names == [f"t{i}" for i in range(5)]
    assert len(env.graph.calls("/message_templates")) == 3


async def test_client_reports_an_unreachable_graph_without_secrets() -> None:
    async with httpx.AsyncClient() as http:
        meta = MetaAdminClient(
            http,
            base_url=f"http://127.0.0.1:{free_port()}",
            version="v23.0",
            app_id=APP_ID,
            app_secret="very-secret-app-secret",
        )
        with pytest.raises(GraphCallFailed) as caught:
            await meta.exchange_code("the-code")
    assert caught.value.retryable and caught.value.code is None
    assert "very-secret-app-secret" not in str(caught.value) and "the-code" not in str(caught.value)


async def test_combined_fake_serves_account_and_message_endpoints() -> None:
    admin, sends = GraphAdminState(), GraphState(accept_any_token=True)
    admin.add_waba("111", {"222": "+55 11 90000-0000"})
    admin.add_token("EAAcombined-token-0001", "111")
    with serve_in_thread(combined_graph_app(admin, sends)) as srv:
        async with httpx.AsyncClient(base_url=srv.url) as http:
            headers = {"Authorization": "Bearer EAAcombined-token-0001"}
            info = await http.get("/v23.0/222", headers=headers)
            sent = await http.post(
                "/v23.0/222/messages",
                headers=headers,
                json={
                    "messaging_product": "whatsapp",
                    "to": "5511911112222",
                    "type": "text",
                    "text": {"body": "oi"},
                },
            )
    assert info.json()["display_phone_number"] == "+55 11 90000-0000"
    assert sent.status_code == 200 and len(sends.sent_messages()) == 1
