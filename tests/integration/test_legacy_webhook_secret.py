"""A legacy tenant's `clients.token` as webhook URL secret: found by its hash, sealed at rest."""

from __future__ import annotations

import copy
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from lancepilot_ingest.webhooks import webhooks_router
from meta_gateway.admin.tenants import tenants_router
from tests.conftest import CORPUS_DIR, TEST_ENCRYPTION_KEY
from wacommon.broker.publisher import FakePublisher
from wacommon.broker.schemas import WebhookReceived
from wacommon.infra.crypto import SecretBox
from wacommon.infra.settings import Settings

BOX = SecretBox(TEST_ENCRYPTION_KEY)
AUTH = {"Authorization": "Bearer test-admin-token"}
TOKEN = "legacy-uazapi-token-000000000001"


@pytest.fixture()
def publisher() -> FakePublisher:
    return FakePublisher()


@pytest.fixture()
async def api(
    pool: asyncpg.Pool, settings: Settings, publisher: FakePublisher
) -> AsyncIterator[httpx.AsyncClient]:
    app = FastAPI()
    app.include_router(tenants_router(settings, pool, BOX))
    app.include_router(webhooks_router(pool, BOX, publisher))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        yield c


def uazapi_body(token: str) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(
        (Path(CORPUS_DIR) / "uazapi" / "inbound_text.json").read_text()
    )
    body = copy.deepcopy(body)
    body["token"] = token
    return body


async def test_the_legacy_token_is_sealed_and_webhooks_find_it_by_hash(
    api: httpx.AsyncClient, pool: asyncpg.Pool, publisher: FakePublisher
) -> None:
    resp = await api.post(
        "/admin/clients",
        headers=AUTH,
        json={"name": "Legado", "token": TOKEN, "api_url": "https://legado.uazapi.com"},
    )
    assert resp.status_code == 201, resp.text
    cid = resp.json()["id"]
    row = await pool.fetchrow("SELECT token, token_hash FROM clients WHERE id = $1", cid)
    assert row is not None and TOKEN not in row["token"] and row["token"].startswith("enc:")
    assert row["token_hash"] and TOKEN not in row["token_hash"]

    ok = await api.post(f"/uazapi/webhook/{TOKEN}", json=uazapi_body(TOKEN))
    assert ok.status_code == 200, ok.text
    (message,) = [m for _, _, m in publisher.published if isinstance(m, WebhookReceived)]
    assert message.tenant_id == cid and message.instance_id is None

    # the body must still carry the (decrypted) instance token
    wrong = await api.post(f"/uazapi/webhook/{TOKEN}", json=uazapi_body("another-token-x"))
    assert wrong.status_code == 403
    # the sealed value or the hash in a URL name nobody
    for guess in (row["token"], row["token_hash"]):
        assert (
            await api.post(f"/uazapi/webhook/{guess}", json=uazapi_body(TOKEN))
        ).status_code == 401

    # a second tenant cannot take the same token
    again = await api.post("/admin/clients", headers=AUTH, json={"name": "Outro", "token": TOKEN})
    assert again.status_code == 409


async def test_tokens_stored_before_the_hash_are_found_after_the_migration(
    api: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    # what 0097 did to existing rows, applied to a row written the old way
    cid = await pool.fetchval(
        "INSERT INTO clients (name, token) VALUES ('Antigo', 'legacy-plain-token-00000000002')"
        " RETURNING id"
    )
    await pool.execute(
        "UPDATE clients SET token_hash = encode(sha256(convert_to(token, 'UTF8')), 'hex')"
        " WHERE id = $1",
        cid,
    )
    token = "legacy-plain-token-00000000002"
    resp = await api.post(f"/uazapi/webhook/{token}", json=uazapi_body(token))
    assert resp.status_code == 200, resp.text
