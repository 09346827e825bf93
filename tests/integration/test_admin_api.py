"""Admin API: CRUD round-trips, auth, validation, and tenant isolation of provider instances."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from meta_gateway.admin.tenants import tenants_router
from tests.conftest import TEST_ENCRYPTION_KEY
from wacommon.infra.crypto import SecretBox
from wacommon.infra.settings import Settings

AUTH = {"Authorization": "Bearer test-admin-token"}


@pytest.fixture()
async def api(pool: asyncpg.Pool, settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    app = FastAPI()
    app.include_router(tenants_router(settings, pool, SecretBox(TEST_ENCRYPTION_KEY)))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        yield c


async def new_tenant(api: httpx.AsyncClient, name: str = "Loja") -> str:
    resp = await api.post("/admin/clients", json={"name": name}, headers=AUTH)
    assert resp.status_code == 201, resp.text
    return str(resp.json()["id"])


async def test_client_crud_round_trip(api: httpx.AsyncClient) -> None:
    resp = await api.post(
        "/admin/clients",
        headers=AUTH,
        json={
            "name": "Padaria",
            "system_prompt": "Seja gentil",
            "bot_active": False,
            "tools_config": {
                "consultar_cep": True,
                "llm_config": {"api_key": "sk-secret-value-123456"},
            },
            "timezone": "America/Manaus",
        },
    )
    assert resp.status_code == 201
    created = resp.json()
    cid = created["id"]
    assert created["bot_active"] is False and created["timezone"] == "America/Manaus"
    assert created["tools_config"]["llm_config"]["api_key"] != "sk-secret-value-123456"

    got = (await api.get(f"/admin/clients/{cid}", headers=AUTH)).json()
    assert got["name"] == "Padaria" and got["system_prompt"] == "Seja gentil"

    patched = await api.patch(f"/admin/clients/{cid}", headers=AUTH, json={"bot_active": True})
    assert patched.status_code == 200 and patched.json()["bot_active"] is True
    assert patched.json()["name"] == "Padaria"

    # the run's database holds every test's tenants (oldest first, 100 a page by default):
    # page through rather than assume the new one is on the first page
    listed: list[dict[str, object]] = []
    while True:
        params = {"limit": 1000, "offset": len(listed)}
        page = (await api.get("/admin/clients", headers=AUTH, params=params)).json()
        listed += page
        if len(page) < 1000:
            break
    assert cid in {c["id"] for c in listed}

    assert (await api.delete(f"/admin/clients/{cid}", headers=AUTH)).status_code == 204
    assert (await api.get(f"/admin/clients/{cid}", headers=AUTH)).status_code == 404


async def test_secrets_are_encrypted_at_rest(api: httpx.AsyncClient, pool: asyncpg.Pool) -> None:
    cid = await new_tenant(api)
    resp = await api.post(
        f"/admin/clients/{cid}/providers",
        headers=AUTH,
        json={
            "provider_type": "uazapi",
            "config": {"url": "https://x.uazapi.com", "token": "plain-token-1"},
        },
    )
    assert resp.status_code == 201
    stored = await pool.fetchval(
        "SELECT config->>'token' FROM client_providers WHERE id = $1", resp.json()["id"]
    )
    assert stored.startswith("enc:") and "plain-token-1" not in stored
    assert resp.json()["config"]["token"] != "plain-token-1"


async def test_requests_without_the_token_are_refused(api: httpx.AsyncClient) -> None:
    assert (await api.get("/admin/clients")).status_code == 401
    assert (
        await api.get("/admin/clients", headers={"Authorization": "Bearer wrong"})
    ).status_code == 401
    assert (await api.post("/admin/clients", json={"name": "x"})).status_code == 401


async def test_admin_api_refuses_everything_without_a_configured_token(
    pool: asyncpg.Pool, settings: Settings
) -> None:
    app = FastAPI()
    app.include_router(
        tenants_router(settings.model_copy(update={"admin_token": None}), pool, SecretBox(None))
    )
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        resp = await c.get("/admin/clients", headers=AUTH)
    assert resp.status_code == 401 and "ADMIN_TOKEN" in resp.json()["detail"]


@pytest.mark.parametrize(
    "body, field",
    [
        ({}, "name"),
        ({"name": ""}, "name"),
        ({"name": "x", "timezone": "Mars/Olympus"}, "timezone"),
        ({"name": "x", "bot_active": "maybe"}, "bot_active"),
        ({"name": "x", "unknown_field": 1}, "unknown_field"),
    ],
)
async def test_bad_client_input_names_the_field(
    api: httpx.AsyncClient, body: dict, field: str
) -> None:
    resp = await api.post("/admin/clients", json=body, headers=AUTH)
    assert resp.status_code == 422
    assert field in resp.text


async def test_bad_json_is_a_4xx(api: httpx.AsyncClient) -> None:
    resp = await api.post(
        "/admin/clients", content=b"{not json", headers={**AUTH, "content-type": "application/json"}
    )
    assert resp.status_code == 422


async def test_provider_crud_and_webhook_url(api: httpx.AsyncClient) -> None:
    cid = await new_tenant(api)
    resp = await api.post(
        f"/admin/clients/{cid}/providers",
        headers=AUTH,
        json={
            "provider_type": "lancepilot",
            "instance_name": "Vendas",
            "config": {
                "token": "lp-token-123",
                "workspace_id": "w1",
                "number": "+55 11 99999-0000",
            },
            "is_default": True,
        },
    )
    assert resp.status_code == 201, resp.text
    prov = resp.json()
    assert prov["webhook_url"].endswith(
        f"/lancepilot/webhook/{prov['webhook_url'].rsplit('/', 1)[1]}"
    )
    assert len(prov["webhook_url"].rsplit("/", 1)[1]) >= 32
    pid = prov["id"]
    got = await api.get(f"/admin/clients/{cid}/providers/{pid}", headers=AUTH)
    assert got.status_code == 200 and got.json()["instance_name"] == "Vendas"
    patched = await api.patch(
        f"/admin/clients/{cid}/providers/{pid}",
        headers=AUTH,
        json={"is_active": False, "config": {"workspace_id": "w2"}},
    )
    assert patched.status_code == 200
    assert patched.json()["is_active"] is False and patched.json()["config"]["workspace_id"] == "w2"
    assert [
        p["id"] for p in (await api.get(f"/admin/clients/{cid}/providers", headers=AUTH)).json()
    ] == [pid]
    assert (
        await api.delete(f"/admin/clients/{cid}/providers/{pid}", headers=AUTH)
    ).status_code == 204
    assert (await api.get(f"/admin/clients/{cid}/providers/{pid}", headers=AUTH)).status_code == 404


async def test_new_default_instance_clears_the_previous_default(api: httpx.AsyncClient) -> None:
    cid = await new_tenant(api)
    for name in ("A", "B"):
        resp = await api.post(
            f"/admin/clients/{cid}/providers",
            headers=AUTH,
            json={
                "provider_type": "uazapi",
                "instance_name": name,
                "is_default": True,
                "config": {"url": "https://u", "token": f"tok-{name}"},
            },
        )
        assert resp.status_code == 201
    defaults = {
        p["instance_name"]: p["is_default"]
        for p in (await api.get(f"/admin/clients/{cid}/providers", headers=AUTH)).json()
    }
    assert defaults == {"A": False, "B": True}


@pytest.mark.parametrize(
    "body, needle",
    [
        ({"provider_type": "telegram", "config": {}}, "provider_type"),
        ({"provider_type": "meta", "config": {"phone_id": "1"}}, "access_token"),
        ({"provider_type": "uazapi", "config": {"url": "https://u"}}, "token"),
    ],
)
async def test_bad_provider_input_is_422(api: httpx.AsyncClient, body: dict, needle: str) -> None:
    cid = await new_tenant(api)
    resp = await api.post(f"/admin/clients/{cid}/providers", headers=AUTH, json=body)
    assert resp.status_code == 422 and needle in resp.text


async def test_unknown_ids_are_404(api: httpx.AsyncClient) -> None:
    missing = "00000000-0000-0000-0000-000000000000"
    assert (await api.get(f"/admin/clients/{missing}", headers=AUTH)).status_code == 404
    assert (await api.get("/admin/clients/not-a-uuid", headers=AUTH)).status_code == 404
    assert (
        await api.patch(f"/admin/clients/{missing}", headers=AUTH, json={"name": "x"})
    ).status_code == 404
    assert (await api.delete(f"/admin/clients/{missing}", headers=AUTH)).status_code == 404
    assert (await api.get(f"/admin/clients/{missing}/providers", headers=AUTH)).status_code == 404


async def test_one_tenant_cannot_touch_another_tenants_providers(api: httpx.AsyncClient) -> None:
    a, b = await new_tenant(api, "A"), await new_tenant(api, "B")
    resp = await api.post(
        f"/admin/clients/{a}/providers",
        headers=AUTH,
        json={
            "provider_type": "meta",
            "config": {"phone_id": "555", "access_token": "EAAtoken"},
        },
    )
    pid = resp.json()["id"]
    assert (await api.get(f"/admin/clients/{b}/providers/{pid}", headers=AUTH)).status_code == 404
    assert (
        await api.patch(
            f"/admin/clients/{b}/providers/{pid}", headers=AUTH, json={"is_active": False}
        )
    ).status_code == 404
    assert (
        await api.delete(f"/admin/clients/{b}/providers/{pid}", headers=AUTH)
    ).status_code == 404
    assert (await api.get(f"/admin/clients/{b}/providers", headers=AUTH)).json() == []
    still = await api.get(f"/admin/clients/{a}/providers/{pid}", headers=AUTH)
    assert still.status_code == 200 and still.json()["is_active"] is True


async def test_a_number_another_tenant_owns_is_refused_with_409(
    api: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    # routing picks one tenant per phone_number_id: a second owner would silently lose or steal
    a, b = await new_tenant(api, "A"), await new_tenant(api, "B")
    meta = {"provider_type": "meta", "config": {"phone_id": "77001", "access_token": "EAAa"}}
    first = await api.post(f"/admin/clients/{a}/providers", headers=AUTH, json=meta)
    assert first.status_code == 201
    stolen = await api.post(f"/admin/clients/{b}/providers", headers=AUTH, json=meta)
    assert stolen.status_code == 409 and "phone" in stolen.json()["detail"]
    # the same number under another name of the owner is also one number, two routes
    twice = await api.post(
        f"/admin/clients/{a}/providers", headers=AUTH, json={**meta, "instance_name": "Outra"}
    )
    assert twice.status_code == 409

    # a display number routes too (the fallback when a webhook lacks the phone id)
    shown = {"phone_id": "77002", "access_token": "EAAb", "display_phone_number": "+55 11 4000-1"}
    assert (
        await api.post(
            f"/admin/clients/{a}/providers",
            headers=AUTH,
            json={"provider_type": "meta", "instance_name": "S", "config": shown},
        )
    ).status_code == 201
    same_display = {**shown, "phone_id": "77003"}
    resp = await api.post(
        f"/admin/clients/{b}/providers",
        headers=AUTH,
        json={"provider_type": "meta", "config": same_display},
    )
    assert resp.status_code == 409

    # B's own instance cannot be moved onto A's number by an update either
    own = await api.post(
        f"/admin/clients/{b}/providers",
        headers=AUTH,
        json={"provider_type": "meta", "config": {"phone_id": "77004", "access_token": "EAAc"}},
    )
    assert own.status_code == 201
    moved = await api.patch(
        f"/admin/clients/{b}/providers/{own.json()['id']}",
        headers=AUTH,
        json={"config": {"phone_id": "77001"}},
    )
    assert moved.status_code == 409
    owners = await pool.fetch(
        "SELECT client_id FROM client_providers WHERE external_id = '77001' AND is_active"
    )
    assert [str(r["client_id"]) for r in owners] == [a]

    # once the owner lets the number go, another tenant may take it
    pid = first.json()["id"]
    released = await api.patch(
        f"/admin/clients/{a}/providers/{pid}", headers=AUTH, json={"is_active": False}
    )
    assert released.status_code == 200
    assert (
        await api.post(
            f"/admin/clients/{b}/providers", headers=AUTH, json={**meta, "instance_name": "N"}
        )
    ).status_code == 201
    # and the old owner cannot switch it back on while B has it
    back = await api.patch(
        f"/admin/clients/{a}/providers/{pid}", headers=AUTH, json={"is_active": True}
    )
    assert back.status_code == 409


async def test_tool_header_values_are_sealed_whatever_their_name_and_never_answered(
    api: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    tools = {
        "custom_tools": [
            {
                "name": "pedidos",
                "url": "https://api.loja.example/v1/orders",
                "headers": {"X-Loja-Auth": "hdr-secret-aaaa1111", "Accept": "application/json"},
            }
        ],
        "crm": {
            "webhook_url": "https://crm.example/hook",
            "webhook_headers": {"Authorization": "Bearer crm-secret-bbbb2222"},
        },
        "calendar": {"backend": {"url": "https://cal.example", "headers": {"X-K": "cal-cccc3333"}}},
    }
    created = await api.post(
        "/admin/clients", headers=AUTH, json={"name": "H", "tools_config": tools}
    )
    assert created.status_code == 201
    cid = created.json()["id"]
    patched = await api.patch(f"/admin/clients/{cid}", headers=AUTH, json={"tools_config": tools})
    listed = await api.get("/admin/clients", headers=AUTH)
    one = await api.get(f"/admin/clients/{cid}", headers=AUTH)
    for resp in (created, patched, listed, one):
        for secret in ("hdr-secret-aaaa1111", "crm-secret-bbbb2222", "cal-cccc3333"):
            assert secret not in resp.text
    stored = await pool.fetchval("SELECT tools_config::text FROM clients WHERE id = $1", cid)
    for secret in (
        "hdr-secret-aaaa1111",
        "crm-secret-bbbb2222",
        "cal-cccc3333",
        "application/json",
    ):
        assert secret not in stored
    opened = SecretBox(TEST_ENCRYPTION_KEY).open(
        await pool.fetchval("SELECT tools_config FROM clients WHERE id = $1", cid)
    )
    assert opened["custom_tools"][0]["headers"]["X-Loja-Auth"] == "hdr-secret-aaaa1111"
    assert opened["crm"]["webhook_headers"]["Authorization"] == "Bearer crm-secret-bbbb2222"


async def test_sending_back_a_masked_answer_keeps_the_stored_secrets(
    api: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    tools = {
        "custom_tools": [
            {"name": "a", "url": "https://a.example", "headers": {"K": "key-a-123456"}},
            {"name": "b", "url": "https://b.example", "headers": {"K": "key-b-654321"}},
        ],
        "llm_config": {"api_key": "sk-keep-me-000000"},
    }
    cid = (
        await api.post("/admin/clients", headers=AUTH, json={"name": "M", "tools_config": tools})
    ).json()["id"]
    shown = (await api.get(f"/admin/clients/{cid}", headers=AUTH)).json()["tools_config"]
    shown["custom_tools"].reverse()  # an editor may reorder the list
    shown["custom_tools"][0]["headers"]["New"] = "added-value-1"
    resp = await api.patch(f"/admin/clients/{cid}", headers=AUTH, json={"tools_config": shown})
    assert resp.status_code == 200
    opened = SecretBox(TEST_ENCRYPTION_KEY).open(
        await pool.fetchval("SELECT tools_config FROM clients WHERE id = $1", cid)
    )
    by_name = {t["name"]: t["headers"] for t in opened["custom_tools"]}
    assert by_name == {
        "b": {"K": "key-b-654321", "New": "added-value-1"},
        "a": {"K": "key-a-123456"},
    }
    assert opened["llm_config"]["api_key"] == "sk-keep-me-000000"

    prov = await api.post(
        f"/admin/clients/{cid}/providers",
        headers=AUTH,
        json={"provider_type": "uazapi", "config": {"url": "https://u", "token": "tok-keep-1"}},
    )
    masked = prov.json()["config"]
    assert masked["token"] == "****"
    await api.patch(
        f"/admin/clients/{cid}/providers/{prov.json()['id']}",
        headers=AUTH,
        json={"config": {**masked, "url": "https://u2"}},
    )
    config = await pool.fetchval(
        "SELECT config FROM client_providers WHERE id = $1", prov.json()["id"]
    )
    assert SecretBox(TEST_ENCRYPTION_KEY).open(config) == {
        "url": "https://u2",
        "token": "tok-keep-1",
    }
