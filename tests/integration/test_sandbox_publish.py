"""The console's "Testar o bot" composer as the provider of the sandbox channel.

The console in-process (its publisher a recorder, or none at all), the real ingest handler
on the published message, the run's PostgreSQL and Redis: what the page publishes is a
`webhook.sandbox.v1` the ingest stores once however often it comes; an unconfirmed publish
is a 503 that keeps the typed text and its id for the retry.
"""

from __future__ import annotations

import json
import uuid

import asyncpg
import redis.asyncio as aioredis

from lancepilot_ingest.handlers import handle_webhook_received
from tests.integration.console_helpers import (
    client_for,
    console_app,
    console_settings,
    new_tenant,
    new_user,
    sign_in,
)
from tests.integration.test_poison_text import deps as ingest_deps
from wacommon.broker.consumer import Delivery
from wacommon.broker.publisher import FakePublisher, PublishFailed
from wacommon.broker.schemas import Provider, WebhookReceived
from wacommon.broker.topology import INGEST
from wacommon.infra.settings import Settings

FIRST = Delivery(redelivered=False, delivery_count=0, retry_count=0)
AGAIN = Delivery(redelivered=True, delivery_count=1, retry_count=0)


async def test_a_typed_message_is_published_as_a_sandbox_webhook_and_stored_once(
    pool: asyncpg.Pool,
    redis_client: aioredis.Redis,
    settings: Settings,
    test_env: dict[str, str],
) -> None:
    tenant = await new_tenant(pool, "Padaria")
    owner = await new_user(pool, tenant, "owner")
    publisher = FakePublisher()
    app = console_app(console_settings(test_env), pool, redis_client, publisher=publisher)
    mid = uuid.uuid4().hex
    async with client_for(app) as console:
        await sign_in(console, owner["email"])
        for _ in range(2):  # a retry of a post whose answer was lost
            resp = await console.post("/testar/mensagens", data={"text": " oi ", "mid": mid})
            assert resp.status_code == 200
            assert 'name="mid"' in resp.text and mid not in resp.text  # a new id for the next
    assert [(ex, key) for ex, key, _ in publisher.published] == [
        (INGEST, "webhook.sandbox.v1"),
        (INGEST, "webhook.sandbox.v1"),
    ]
    message = publisher.published[0][2]
    assert isinstance(message, WebhookReceived)
    assert message.provider is Provider.SANDBOX and message.tenant_id == tenant

    ingest = ingest_deps(pool, redis_client, settings)
    for _, _, published in publisher.published:
        await handle_webhook_received(published, FIRST, deps=ingest)
    await handle_webhook_received(message, AGAIN, deps=ingest)
    rows = await pool.fetch(
        "SELECT m.content, c.contact_key, c.provider FROM chat_messages m"
        " JOIN active_conversations c ON c.id = m.conversation_id"
        " WHERE m.client_id = $1 AND m.provider_message_id = $2",
        tenant,
        f"sandbox.{mid}",
    )
    assert len(rows) == 1
    assert rows[0]["content"] == "oi" and rows[0]["provider"] == "sandbox"
    assert rows[0]["contact_key"].startswith("SANDBOX:")


async def test_an_unconfirmed_publish_keeps_the_text_and_its_id(
    pool: asyncpg.Pool, redis_client: aioredis.Redis, test_env: dict[str, str]
) -> None:
    tenant = await new_tenant(pool, "Padaria")
    owner = await new_user(pool, tenant, "owner")
    publisher = FakePublisher()
    publisher.fail_with = PublishFailed("nack")
    app = console_app(console_settings(test_env), pool, redis_client, publisher=publisher)
    mid = uuid.uuid4().hex
    async with client_for(app) as console:
        await sign_in(console, owner["email"])
        resp = await console.post("/testar/mensagens", data={"text": "tem pão?", "mid": mid})
        assert resp.status_code == 503
        assert "não foi enviada" in resp.text and "tem pão?" in resp.text
        assert f'value="{mid}"' in resp.text  # the retry is the same message
        # no broker connection at all: the same answer
        bare = console_app(console_settings(test_env), pool, redis_client)
        async with client_for(bare) as other:
            await sign_in(other, owner["email"])
            resp = await other.post("/testar/mensagens", data={"text": "oi", "mid": mid})
            assert resp.status_code == 503
    assert publisher.published == []


async def test_a_test_customer_is_per_user_and_reset_changes_it(
    pool: asyncpg.Pool, redis_client: aioredis.Redis, test_env: dict[str, str]
) -> None:
    tenant = await new_tenant(pool, "Padaria")
    first, second = await new_user(pool, tenant, "owner"), await new_user(pool, tenant, "owner")
    publisher = FakePublisher()
    app = console_app(console_settings(test_env), pool, redis_client, publisher=publisher)

    async def contact_of(email: str, *, reset: bool = False) -> str:
        async with client_for(app) as console:
            await sign_in(console, email)
            if reset:
                assert (await console.post("/testar/reiniciar")).status_code == 200
            await console.post("/testar/mensagens", data={"text": "oi", "mid": uuid.uuid4().hex})
        message = publisher.published[-1][2]
        assert isinstance(message, WebhookReceived)
        return str(json.loads(message.body)["contact"])

    a = await contact_of(first["email"])
    assert await contact_of(first["email"]) == a
    assert await contact_of(second["email"]) != a
    assert await contact_of(first["email"], reset=True) != a
