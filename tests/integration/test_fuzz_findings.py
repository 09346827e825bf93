"""Regressions for what the HTTP fuzzer (tests/fuzz) found, each against the real service app."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest

from meta_gateway.main import build_app as gateway_app
from metrics.app import metrics_app
from metrics.main import bootstrap as metrics_bootstrap
from metrics.settings import MetricsSettings
from wacommon.infra.settings import Settings
from wacommon.service.runtime import Runtime

AUTH = {"Authorization": "Bearer test-admin-token"}


@pytest.fixture(scope="module")
async def gateway(database: str, settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The meta-gateway exactly as `main` builds it, on its own runtime."""
    async with Runtime(settings, migrate=False) as runtime:
        transport = httpx.ASGITransport(app=gateway_app(runtime))
        async with httpx.AsyncClient(transport=transport, base_url="http://gw", headers=AUTH) as c:
            yield c


@pytest.fixture(scope="module")
async def tenant(gateway: httpx.AsyncClient) -> str:
    resp = await gateway.post("/admin/clients", json={"name": "Fuzz findings"})
    assert resp.status_code == 201, resp.text
    return str(resp.json()["id"])


@pytest.mark.parametrize(
    ("body", "headers"),
    [
        (b"", {}),
        (b"\xff\xfe not utf-8", {"content-type": "application/json"}),
        (b'{"name": "x"}', {"content-type": "application/json"}),
    ],
)
async def test_document_upload_with_a_bad_body_is_a_422_naming_the_field(
    gateway: httpx.AsyncClient, tenant: str, body: bytes, headers: dict[str, str]
) -> None:
    # was a 500: the pydantic error (holding the raw bytes) went into the JSON answer
    resp = await gateway.post(f"/admin/clients/{tenant}/documents", content=body, headers=headers)
    assert resp.status_code == 422, resp.text
    detail = resp.json()["detail"]
    assert isinstance(detail, list) and all(e["loc"][0] == "body" for e in detail)
    assert all(isinstance(e["msg"], str) and e["msg"] for e in detail)


async def test_null_for_a_required_column_is_a_422_naming_it(
    gateway: httpx.AsyncClient, tenant: str
) -> None:
    # was a 500 (a constraint on a null), then a 422 whose detail was not the documented shape
    resp = await gateway.patch(f"/admin/clients/{tenant}", json={"name": None, "bot_active": None})
    assert resp.status_code == 422, resp.text
    [error] = resp.json()["detail"]
    assert error["loc"] == ["body"] and "bot_active, name cannot be null" in error["msg"]


async def test_every_method_of_a_path_is_in_the_allow_header(gateway: httpx.AsyncClient) -> None:
    resp = await gateway.options("/admin/clients")
    assert resp.status_code == 405
    assert set(resp.headers["allow"].split(", ")) == {"GET", "POST"}


@pytest.mark.parametrize(
    "body",
    [
        {"name": "Loja\u0000"},
        {"name": "Loja", "system_prompt": "oi\u0000"},
        {"name": "Loja", "tools_config": {"custom_tools": [{"name": "x\u0000"}]}},
        {"name": "Loja", "tools_config": {"chave\u0000": 1}},
    ],
)
async def test_a_nul_character_is_a_422_not_a_database_error(
    gateway: httpx.AsyncClient, body: dict[str, object]
) -> None:
    # was a 500: PostgreSQL text and jsonb cannot hold U+0000
    resp = await gateway.post("/admin/clients", json=body)
    assert resp.status_code == 422, resp.text
    assert all(e["loc"][0] == "body" and len(e["loc"]) > 1 for e in resp.json()["detail"])


async def test_a_nul_character_in_a_conversation_filter_or_a_search_is_a_422(
    gateway: httpx.AsyncClient, tenant: str
) -> None:
    conversations = await gateway.get(
        f"/admin/clients/{tenant}/conversations", params={"contact": "55\u0000"}
    )
    search = await gateway.get(f"/admin/clients/{tenant}/knowledge/search", params={"q": "a\u0000"})
    assert conversations.status_code == 422 and conversations.json()["detail"][0]["loc"] == [
        "query",
        "contact",
    ]
    assert search.status_code == 422 and search.json()["detail"][0]["loc"] == ["query", "q"]


async def test_a_document_with_nul_characters_is_stored_without_them(
    gateway: httpx.AsyncClient, tenant: str, pool: asyncpg.Pool
) -> None:
    resp = await gateway.post(
        f"/admin/clients/{tenant}/documents",
        files={
            "file": ("menu.txt", b"Cardapio\n\nA pizza\x00 de queijo custa R$ 40.\n", "text/plain")
        },
    )
    assert resp.status_code == 201, resp.text
    texts = await pool.fetch("SELECT text FROM kb_chunks WHERE document_id = $1", resp.json()["id"])
    assert [r["text"] for r in texts] == ["A pizza de queijo custa R$ 40."]


@pytest.mark.parametrize(
    "body",
    [
        {"bot_active": 0},
        {"bot_active": "false"},
        {"human_attendant_timeout": "60"},
        {"human_attendant_timeout": 2**40},
        {"bot_active": None},
        {"tools_config": None},
    ],
)
async def test_a_value_of_the_wrong_type_is_refused_not_coerced(
    gateway: httpx.AsyncClient, tenant: str, body: dict[str, object]
) -> None:
    resp = await gateway.patch(f"/admin/clients/{tenant}", json=body)
    assert resp.status_code == 422, resp.text


async def test_a_whole_float_is_an_integer(gateway: httpx.AsyncClient, tenant: str) -> None:
    resp = await gateway.patch(f"/admin/clients/{tenant}", json={"human_attendant_timeout": 60.0})
    assert resp.status_code == 200 and resp.json()["human_attendant_timeout"] == 60


async def test_a_meta_instance_needs_a_numeric_phone_id(
    gateway: httpx.AsyncClient, tenant: str
) -> None:
    base = f"/admin/clients/{tenant}/providers"
    bad = await gateway.post(
        base, json={"provider_type": "meta", "config": {"phone_id": "abc", "access_token": "t"}}
    )
    assert bad.status_code == 422 and "phone_id" in bad.text
    good = await gateway.post(
        base, json={"provider_type": "meta", "config": {"phone_id": "123", "access_token": "t"}}
    )
    assert good.status_code == 201, good.text
    patched = await gateway.patch(f"{base}/{good.json()['id']}", json={"config": {"phone_id": "x"}})
    assert patched.status_code == 422 and "phone_id" in patched.text
    await gateway.delete(f"{base}/{good.json()['id']}")


@pytest.mark.parametrize("key", ["access_token", "phone_id"])
async def test_a_stored_credential_that_cannot_be_sent_is_a_409_not_a_500(
    gateway: httpx.AsyncClient, tenant: str, pool: asyncpg.Pool, key: str
) -> None:
    # rows written before the admin API checked them (or by the legacy migration)
    config = {"phone_id": "123", "access_token": "token", key: "caf\u00e9 x"}
    row = await pool.fetchrow(
        "INSERT INTO client_providers (client_id, provider_type, instance_name, config)"
        " VALUES ($1, 'meta', $2, $3) RETURNING id",
        tenant,
        f"legacy-{key}",
        config,
    )
    try:
        resp = await gateway.get(
            f"/admin/clients/{tenant}/meta/business-profile", params={"provider_id": str(row["id"])}
        )
        assert resp.status_code == 409 and key in resp.text
    finally:
        await pool.execute("DELETE FROM client_providers WHERE id = $1", row["id"])


@pytest.mark.parametrize("key", ["access_token", "token"])
async def test_a_token_that_cannot_be_an_http_header_is_refused(
    gateway: httpx.AsyncClient, tenant: str, key: str
) -> None:
    # was a 500 on the next Graph call (httpx cannot encode the header)
    config = {"phone_id": "123", "access_token": "t", "url": "https://u", "token": "t"}
    resp = await gateway.post(
        f"/admin/clients/{tenant}/providers",
        json={"provider_type": "meta", "config": {**config, key: "tok\u00e9n"}},
    )
    assert resp.status_code == 422 and key in resp.text


@pytest.mark.parametrize("query", ["to=0", "from=20260101", "from=2026-01-01T00:00"])
async def test_a_metrics_day_is_only_an_iso_date(
    pool: asyncpg.Pool, settings: Settings, query: str
) -> None:
    # `to=0` was read as 1970-01-01 and answered 200
    values = {**settings.model_dump(), "service_name": "metrics"}
    app = metrics_app(metrics_bootstrap(MetricsSettings(_env_file=None, **values), pool))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://m", headers=AUTH) as c:
        resp = await c.get(f"/api/metrics/daily?{query}")
    assert resp.status_code == 422, resp.text
    assert resp.json()["detail"][0]["loc"] == ["query", query.split("=")[0]]


@pytest.mark.parametrize("path", ["/admin/clients", "/admin/clients/{tenant}/conversations"])
async def test_a_huge_list_offset_is_a_422(
    gateway: httpx.AsyncClient, tenant: str, path: str
) -> None:
    # was a 500: asyncpg cannot bind an offset past int64 (found by the nightly-size run)
    resp = await gateway.get(path.format(tenant=tenant), params={"offset": str(2**63)})
    assert resp.status_code == 422 and resp.json()["detail"][0]["loc"] == ["query", "offset"]
