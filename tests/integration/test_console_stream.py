"""`GET /api/events`: the live stream fed from the broker, per tenant, resumable."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import httpx
import pytest
import redis.asyncio as aioredis
from aio_pika.abc import AbstractRobustConnection
from fastapi import FastAPI

from console.settings import ConsoleSettings
from tests.integration.console_helpers import console_app, console_settings, new_user, sign_in
from tests.integration.inbox_helpers import (
    MetaTenant,
    SseReader,
    conversation,
    meta_tenant,
    served,
)
from wacommon.broker.notify import BrokerNotifier
from wacommon.broker.publisher import AioPikaPublisher
from wacommon.infra.crypto import SecretBox


@pytest.fixture(scope="module")
def csettings(test_env: dict[str, str]) -> ConsoleSettings:
    return console_settings(test_env)


@pytest.fixture()
async def console(
    pool: asyncpg.Pool,
    redis_client: aioredis.Redis,
    amqp: AbstractRobustConnection,
    csettings: ConsoleSettings,
) -> AsyncIterator[tuple[str, FastAPI]]:
    publisher = AioPikaPublisher(amqp, csettings)
    app = console_app(csettings, pool, redis_client, publisher=publisher, connection=amqp)
    async with served(app) as url:
        yield url, app
    hub = getattr(app.state, "stream_hub", None)
    if hub is not None:
        await hub.close()
    await publisher.close()


@pytest.fixture()
def base_url(console: tuple[str, FastAPI]) -> str:
    return console[0]


@asynccontextmanager
async def signed_in(base_url: str, email: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=base_url, timeout=20) as c:
        await sign_in(c, email)
        yield c


@asynccontextmanager
async def stream(
    c: httpx.AsyncClient, last_event_id: int | None = None
) -> AsyncIterator[tuple[httpx.Response, SseReader]]:
    headers = {"Last-Event-ID": str(last_event_id)} if last_event_id else {}
    async with c.stream("GET", "/api/events", headers=headers) as resp:
        assert resp.status_code == 200
        yield resp, SseReader(resp)


class Tenants:
    def __init__(self, pool: asyncpg.Pool, box: SecretBox) -> None:
        self.pool, self.box = pool, box

    async def build(self) -> Tenants:
        self.a: MetaTenant = await meta_tenant(self.pool, self.box, "A")
        self.b: MetaTenant = await meta_tenant(self.pool, self.box, "B")
        self.agent_a = await new_user(self.pool, self.a.id, "agent")
        self.owner_b = await new_user(self.pool, self.b.id, "owner")
        self.cid_a = await conversation(self.pool, self.a)
        self.cid_b = await conversation(self.pool, self.b)
        return self


@pytest.fixture()
async def tenants(pool: asyncpg.Pool, test_env: dict[str, str]) -> Tenants:
    return await Tenants(pool, SecretBox(test_env["ENCRYPTION_KEY"])).build()


def _is(kind: str, **data: Any) -> Any:
    return lambda e: e.event == kind and all(e.data.get(k) == v for k, v in data.items())


async def test_events_reach_only_the_tenants_streams(
    base_url: str, amqp: AbstractRobustConnection, csettings: ConsoleSettings, tenants: Tenants
) -> None:
    notifier = BrokerNotifier(amqp, csettings)
    async with (
        signed_in(base_url, tenants.agent_a["email"]) as a,
        signed_in(base_url, tenants.owner_b["email"]) as b,
        stream(a) as (resp_a, events_a),
        stream(b) as (_, events_b),
    ):
        assert resp_a.headers["content-type"].startswith("text/event-stream")
        assert resp_a.headers["cache-control"] == "no-cache"
        assert resp_a.headers["x-accel-buffering"] == "no"
        await notifier.notify(tenants.a.id, tenants.cid_a, "message.created", message_id=11)
        await notifier.notify(tenants.b.id, tenants.cid_b, "message.created", message_id=22)
        await notifier.notify(
            tenants.a.id, tenants.cid_a, "handover.requested", state="human", cause="pediu"
        )
        got_a = await events_a.next()
        assert got_a.event == "message.created"
        assert got_a.data == {"conversation_id": tenants.cid_a, "message_id": 11}
        handover = await events_a.next()
        assert handover.event == "handover.requested" and handover.id is not None
        assert got_a.id is not None and handover.id > got_a.id
        # B's stream: its own event, never A's (published before and after it)
        got_b = await events_b.next()
        assert got_b.data == {"conversation_id": tenants.cid_b, "message_id": 22}
        await notifier.notify(
            tenants.b.id, tenants.cid_b, "message.status", message_id=23, status="read"
        )
        after = await events_b.next()
        assert after.event == "message.status" and after.data["conversation_id"] == tenants.cid_b
    await notifier.close()


async def test_a_reply_through_the_api_shows_on_the_stream(base_url: str, tenants: Tenants) -> None:
    async with (
        signed_in(base_url, tenants.agent_a["email"]) as a,
        stream(a) as (_, events),
    ):
        resp = await a.post(
            f"/api/conversations/{tenants.cid_a}/messages",
            json={"text": "Olá!"},
            headers={"Idempotency-Key": "s-1"},
        )
        assert resp.status_code == 201
        created = await events.until(_is("message.created", message_id=resp.json()["id"]))
        assert created.data["conversation_id"] == tenants.cid_a
        updated = await events.until(_is("conversation.updated", state="human"))
        assert updated.data["conversation_id"] == tenants.cid_a


async def test_resume_after_reconnect_replays_what_was_missed(
    base_url: str,
    pool: asyncpg.Pool,
    amqp: AbstractRobustConnection,
    csettings: ConsoleSettings,
    tenants: Tenants,
) -> None:
    notifier = BrokerNotifier(amqp, csettings)
    async with signed_in(base_url, tenants.agent_a["email"]) as a:
        async with stream(a) as (_, events):
            await notifier.notify(tenants.a.id, tenants.cid_a, "message.created", message_id=1)
            last = await events.next()
            assert last.id is not None
        # while nobody listens: a customer message and a delivery receipt land, and the
        # bot hands over; their notifications reach no stream
        missed = await pool.fetchval(
            "INSERT INTO chat_messages (client_id, conversation_id, direction, role, provider,"
            " kind, content, status) VALUES ($1, $2, 'in', 'customer', 'meta', 'text',"
            " 'cadê meu pedido?', 'received') RETURNING id",
            tenants.a.id,
            tenants.cid_a,
        )
        delivered = await pool.fetchval(
            "UPDATE chat_messages SET status = 'delivered', updated_at = now()"
            " WHERE id = (SELECT min(id) FROM chat_messages WHERE conversation_id = $1"
            " AND direction = 'out') RETURNING id",
            tenants.cid_a,
        )
        await pool.execute(
            "INSERT INTO conversation_events (client_id, conversation_id, event_type, data)"
            " VALUES ($1, $2, 'human_takeover', '{\"cause\": \"ai:pediu atendente\"}')",
            tenants.a.id,
            tenants.cid_a,
        )
        await notifier.notify(tenants.a.id, tenants.cid_a, "message.created", message_id=missed)
        async with stream(a, last_event_id=last.id) as (_, events):
            created = await events.until(_is("message.created", message_id=missed))
            status = await events.until(_is("message.status", message_id=delivered))
            handover = await events.until(_is("handover.requested"))
            assert status.data["status"] == "delivered"
            assert handover.data["cause"] == "pediu atendente"
            assert created.id is not None and handover.id is not None
            # live again after the replay
            await notifier.notify(
                tenants.a.id, tenants.cid_a, "message.status", message_id=missed, status="read"
            )
            live = await events.until(_is("message.status", message_id=missed, status="read"))
            assert live.id is not None and live.id > created.id
    await notifier.close()


async def test_another_tenants_replay_is_empty(
    base_url: str, pool: asyncpg.Pool, tenants: Tenants
) -> None:
    async with signed_in(base_url, tenants.owner_b["email"]) as b:
        # an id from long ago: B's replay covers only B's rows
        async with stream(b, last_event_id=1_000_000) as (_, events):
            seen = []
            while True:
                try:
                    seen.append(await events.next(timeout=2))
                except TimeoutError:
                    break
        a_ids = {
            r["id"]
            for r in await pool.fetch(
                "SELECT id FROM chat_messages WHERE client_id = $1", tenants.a.id
            )
        }
        assert seen, "B's own rows replay"
        assert all(e.data["conversation_id"] == tenants.cid_b or e.event == "resync" for e in seen)
        assert not any(e.data.get("message_id") in a_ids for e in seen)


async def test_a_broker_reconnect_replays_what_the_queue_missed(
    console: tuple[str, FastAPI], pool: asyncpg.Pool, tenants: Tenants
) -> None:
    url, app = console
    async with signed_in(url, tenants.agent_a["email"]) as a, stream(a) as (_, events):
        # the first event starts the stream's ids (the hub is up once a stream is open)
        hub = app.state.stream_hub
        hub.publish_local(
            {
                "tenant_id": tenants.a.id,
                "conversation_id": tenants.cid_a,
                "kind": "message.created",
                "message_id": 1,
            }
        )
        await events.next()
        # committed while the queue was gone: no notification will ever come for it
        lost = await pool.fetchval(
            "INSERT INTO chat_messages (client_id, conversation_id, direction, role, provider,"
            " kind, content, status) VALUES ($1, $2, 'in', 'customer', 'meta', 'text',"
            " 'perdida?', 'received') RETURNING id",
            tenants.a.id,
            tenants.cid_a,
        )
        hub._on_reconnect()  # what the robust connection calls once the broker is back
        replayed = await events.until(_is("message.created", message_id=lost))
        assert replayed.data["conversation_id"] == tenants.cid_a
