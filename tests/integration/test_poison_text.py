"""Text PostgreSQL refuses (U+0000, lone surrogates) and one bad item in a batched webhook.

Real ingest handler, real PostgreSQL and Redis: WhatsApp delivers `\\u0000` in texts and
JSON allows `\\ud800`; neither can be stored as is. The text is cleaned at the edge, and
an item the database still refuses is set aside alone while its neighbours land.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import secrets
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import redis.asyncio as aioredis
from fastapi import FastAPI

from lancepilot_ingest.debounce import Debouncer
from lancepilot_ingest.deps import IngestDeps
from lancepilot_ingest.handlers import handle_webhook_received
from lancepilot_ingest.webhooks import webhooks_router
from meta_gateway.webhook import install_fast_path, webhook_router
from wacommon.broker.consumer import Delivery
from wacommon.broker.publisher import FakePublisher
from wacommon.broker.schemas import Provider, WebhookReceived
from wacommon.infra.crypto import SecretBox
from wacommon.infra.settings import Settings
from wacommon.repositories import clients as clients_repo
from wacommon.repositories import providers as providers_repo
from wacommon.repositories.events import PgEventLog
from wacommon.service.http import service_app

BOX = SecretBox(None)
CORPUS = Path(__file__).resolve().parents[1] / "data" / "corpus"


def deps(pool: asyncpg.Pool, redis_client: aioredis.Redis, settings: Settings) -> IngestDeps:
    return IngestDeps(
        pool, FakePublisher(), PgEventLog(pool), Debouncer(redis_client, settings, pool), BOX
    )


async def meta_tenant(pool: asyncpg.Pool) -> tuple[str, str]:
    client = await clients_repo.create_client(pool, {"name": f"nul-{uuid.uuid4().hex[:6]}"})
    phone_id = str(uuid.uuid4().int % 10**15)
    await providers_repo.create_provider(
        pool,
        BOX,
        str(client["id"]),
        {
            "provider_type": "meta",
            "is_default": True,
            "config": {"phone_id": phone_id, "access_token": "EAAtoken0000000000000001"},
        },
    )
    return str(client["id"]), phone_id


def meta_batch(phone_id: str, texts: list[str], ids: list[str] | None = None) -> str:
    """A Meta webhook body carrying one text message per entry of `texts` (JSON text)."""
    body = json.loads((CORPUS / "meta" / "batch_two_messages.json").read_text())
    value = body["entry"][0]["changes"][0]["value"]
    value["metadata"]["phone_number_id"] = phone_id
    template = value["messages"][0]
    value["messages"] = []
    for i, text in enumerate(texts):
        m = copy.deepcopy(template)
        m["id"] = ids[i] if ids else f"wamid.{uuid.uuid4().hex}"
        m["text"]["body"] = text
        value["messages"].append(m)
    # ensure_ascii: NUL and lone surrogates travel as \u escapes, as WhatsApp sends them
    return json.dumps(body, ensure_ascii=True)


async def stored(pool: asyncpg.Pool, tenant: str) -> list[dict[str, Any]]:
    rows = await pool.fetch(
        "SELECT provider_message_id, content, raw FROM chat_messages"
        " WHERE client_id = $1 AND direction = 'in' ORDER BY id",
        tenant,
    )
    return [dict(r) for r in rows]


@pytest.mark.parametrize(
    ("texts", "expected"),
    [
        (["antes", "com \u0000 nul", "depois"], ["antes", "com  nul", "depois"]),
        (
            ["antes", "meio \ud83d sozinho", "\udc00", "depois"],
            ["antes", "meio \ufffd sozinho", "\ufffd", "depois"],
        ),
    ],
    ids=["nul", "lone-surrogates"],
)
async def test_text_postgres_refuses_is_cleaned_and_every_message_lands(
    pool: asyncpg.Pool,
    redis_client: aioredis.Redis,
    settings: Settings,
    texts: list[str],
    expected: list[str],
) -> None:
    tenant, phone_id = await meta_tenant(pool)
    msg = WebhookReceived(provider=Provider.META, body=meta_batch(phone_id, texts))
    await handle_webhook_received(
        msg,
        Delivery(redelivered=False, delivery_count=0, retry_count=0),
        deps=deps(pool, redis_client, settings),
    )
    rows = await stored(pool, tenant)
    assert [r["content"] for r in rows] == expected
    # the raw payload kept as jsonb is the cleaned one too
    assert [r["raw"]["text"]["body"] for r in rows] == expected


async def test_one_item_the_database_refuses_is_set_aside_and_its_neighbours_land(
    pool: asyncpg.Pool, redis_client: aioredis.Redis, settings: Settings
) -> None:
    tenant, phone_id = await meta_tenant(pool)
    # an id too big for the unique index: no cleaning makes it storable
    huge_id = "wamid." + secrets.token_hex(10_000)
    ids = [f"wamid.{uuid.uuid4().hex}", huge_id, f"wamid.{uuid.uuid4().hex}"]
    msg = WebhookReceived(
        provider=Provider.META, body=meta_batch(phone_id, ["um", "dois", "três"], ids)
    )
    d = deps(pool, redis_client, settings)
    await handle_webhook_received(
        msg, Delivery(redelivered=False, delivery_count=0, retry_count=0), deps=d
    )  # does not raise: nothing to retry
    assert [r["content"] for r in await stored(pool, tenant)] == ["um", "três"]
    rejected = await pool.fetch(
        "SELECT client_id, provider, provider_message_id, correlation_id, item, error"
        " FROM rejected_webhook_items WHERE client_id = $1",
        tenant,
    )
    assert len(rejected) == 1
    assert rejected[0]["provider"] == "meta"
    assert rejected[0]["provider_message_id"] == huge_id
    assert rejected[0]["correlation_id"] == msg.correlation_id
    assert "dois" in rejected[0]["item"] and rejected[0]["error"]
    # the same webhook again (a provider retry): nothing doubled, the bad item set aside once more
    await handle_webhook_received(
        msg, Delivery(redelivered=False, delivery_count=0, retry_count=0), deps=d
    )
    assert [r["content"] for r in await stored(pool, tenant)] == ["um", "três"]


async def test_uazapi_text_with_nul_is_stored_clean(
    pool: asyncpg.Pool, redis_client: aioredis.Redis, settings: Settings
) -> None:
    client = await clients_repo.create_client(pool, {"name": "uaz-nul"})
    tenant = str(client["id"])
    body = json.loads((CORPUS / "uazapi" / "inbound_text.json").read_text())
    body["message"]["text"] = "olá\u0000 \udc00mundo"
    body["message"]["content"] = "olá\u0000 \udc00mundo"
    body["message"]["messageid"] = uuid.uuid4().hex.upper()
    body["message"]["id"] = body["message"]["messageid"]
    msg = WebhookReceived(
        provider=Provider.UAZAPI, tenant_id=tenant, body=json.dumps(body, ensure_ascii=True)
    )
    await handle_webhook_received(
        msg,
        Delivery(redelivered=False, delivery_count=0, retry_count=0),
        deps=deps(pool, redis_client, settings),
    )
    rows = await stored(pool, tenant)
    assert [r["content"] for r in rows] == ["olá \ufffdmundo"]


@pytest.mark.parametrize("provider", ["uazapi", "lancepilot"])
async def test_webhook_edge_accepts_a_lone_surrogate_escape(
    pool: asyncpg.Pool, provider: str
) -> None:
    client = await clients_repo.create_client(pool, {"name": "edge"})
    config: dict[str, Any] = {}
    if provider == "uazapi":
        config.update({"url": "http://127.0.0.1:9", "token": "tok-edge"})
        body = json.loads((CORPUS / "uazapi" / "inbound_text.json").read_text())
        body["token"] = "tok-edge"
        body["message"]["text"] = "a\ud800b"
    else:
        config.update({"api_token": "lp-token"})
        body = json.loads(
            (CORPUS / "lancepilot" / "INFERRED_webhook_message_incoming_text.json").read_text()
        )
        body["data"]["attributes"]["content"] = "a\ud800b"
    row = await providers_repo.create_provider(
        pool, BOX, str(client["id"]), {"provider_type": provider, "config": config}
    )
    secret = str(row["webhook_secret"])
    publisher = FakePublisher()
    app = FastAPI()
    app.include_router(webhooks_router(pool, BOX, publisher))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        r = await c.post(
            f"/{provider}/webhook/{secret}",
            content=json.dumps(body, ensure_ascii=True),
            headers={"content-type": "application/json"},
        )
    assert r.status_code == 200, r.text
    assert len(publisher.published) == 1


async def test_meta_edge_accepts_a_signed_body_with_a_lone_surrogate(settings: Settings) -> None:
    recorder = FakePublisher()
    app = service_app(None, "meta-gateway")
    app.include_router(webhook_router(settings, recorder))
    install_fast_path(app, settings, recorder)
    raw = meta_batch("106540352242922", ["oi \ud83d", "nul \u0000"]).encode()
    secret = settings.meta_app_secret.get_secret_value() if settings.meta_app_secret else ""
    signature = "sha256=" + hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        r = await c.post(
            "/meta/webhook",
            content=raw,
            headers={"content-type": "application/json", "x-hub-signature-256": signature},
        )
    assert r.status_code == 200, r.text
    assert len(recorder.published) == 1
