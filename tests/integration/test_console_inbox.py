"""The inbox API on the real database, broker and Redis: roles, isolation, the reply, actions."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import asyncpg
import httpx
import pytest
import redis.asyncio as aioredis
from aio_pika.abc import AbstractIncomingMessage, AbstractRobustConnection

from console.settings import ConsoleSettings
from tests.fakes.server import serve_in_thread
from tests.integration.console_helpers import (
    client_for,
    console_app,
    console_settings,
    new_user,
    sign_in,
)
from tests.integration.inbox_helpers import MetaTenant, conversation, meta_tenant
from wacommon.broker.envelope import decode
from wacommon.broker.publisher import AioPikaPublisher
from wacommon.broker.schemas import SendReply, utcnow
from wacommon.broker.shards import shard_queue
from wacommon.broker.topology import SEND_QUEUE
from wacommon.infra.crypto import SecretBox
from walocal.graph_admin import combined_graph_app
from walocal.graph_admin_state import GraphAdminState
from walocal.graph_state import GraphState

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@pytest.fixture(scope="module")
def csettings(test_env: dict[str, str]) -> ConsoleSettings:
    return console_settings(test_env)


@pytest.fixture(scope="module")
def box(test_env: dict[str, str]) -> SecretBox:
    return SecretBox(test_env["ENCRYPTION_KEY"])


@pytest.fixture()
async def app_deps(
    amqp: AbstractRobustConnection, csettings: ConsoleSettings
) -> AsyncIterator[dict[str, Any]]:
    publisher = AioPikaPublisher(amqp, csettings)
    yield {"publisher": publisher, "connection": amqp}
    await publisher.close()


class World:
    """Tenant A (owner, agent, a conversation) and tenant B (owner), with signed-in clients."""

    def __init__(self, pool: asyncpg.Pool, box: SecretBox) -> None:
        self.pool, self.box = pool, box

    async def build(self) -> World:
        self.a: MetaTenant = await meta_tenant(self.pool, self.box, "Loja A")
        self.b: MetaTenant = await meta_tenant(self.pool, self.box, "Loja B")
        self.owner = await new_user(self.pool, self.a.id, "owner", name="Dona Ana")
        self.agent = await new_user(self.pool, self.a.id, "agent", name="Beto Atendente")
        self.owner_b = await new_user(self.pool, self.b.id, "owner", name="Dona Bia")
        self.cid = await conversation(
            self.pool, self.a, name="Maria Cliente", phone="5511987650001"
        )
        return self


@pytest.fixture()
async def world(pool: asyncpg.Pool, box: SecretBox) -> World:
    return await World(pool, box).build()


async def _drain_send_commands(amqp: AbstractRobustConnection, settings: Any) -> list[SendReply]:
    channel = await amqp.channel()
    names = [SEND_QUEUE] + [shard_queue(SEND_QUEUE, i) for i in range(settings.broker_shards)]
    out: list[SendReply] = []
    received = asyncio.Event()

    async def take(msg: AbstractIncomingMessage) -> None:
        decoded = decode(msg.body)
        assert isinstance(decoded, SendReply)
        out.append(decoded)
        received.set()

    # consumed, not fetched: the shard queues (single active consumer) refuse basic.get
    for name in names:
        queue = await channel.get_queue(settings.q(name), ensure=False)
        await queue.consume(take, no_ack=True)
    while True:
        received.clear()
        try:
            await asyncio.wait_for(received.wait(), 2)
        except TimeoutError:
            break
    await channel.close()
    return out


async def test_list_and_thread_for_an_agent_with_unread_and_window(
    pool: asyncpg.Pool,
    redis_client: aioredis.Redis,
    csettings: ConsoleSettings,
    world: World,
) -> None:
    old = await conversation(
        pool, world.a, name="Zé Antigo", last_customer_at=utcnow() - timedelta(hours=30)
    )
    async with client_for(console_app(csettings, pool, redis_client)) as c:
        await sign_in(c, world.agent["email"])
        resp = await c.get("/api/conversations")
        assert resp.status_code == 200, resp.text
        convs = resp.json()["conversations"]
        assert [x["id"] for x in convs] == [world.cid, old]  # newest activity first
        first = convs[0]
        assert first["contact"] == {
            "name": "Maria Cliente",
            "phone": "5511987650001",
            "key": "5511987650001",
        }
        assert first["provider"] == "meta" and first["number"]["instance_id"] == world.a.instance_id
        assert first["state"]["value"] == "bot" and first["state"]["since"]
        assert first["last_message"]["text"] == "mensagem 2"
        assert first["unread"] == 2 and first["assignee"] is None
        assert first["window"]["applies"] and first["window"]["open"]
        assert convs[1]["window"] == {"applies": True, "open": False, "closes_at": None}

        thread = (await c.get(f"/api/conversations/{world.cid}/messages")).json()["messages"]
        assert [m["text"] for m in thread] == ["mensagem 0", "mensagem 1", "mensagem 2"]
        assert thread[0]["author"] == {"kind": "customer"} and thread[0]["status"] is None
        assert thread[1]["author"] == {"kind": "bot"}
        assert thread[1]["status"]["value"] == "delivered" and thread[1]["status"]["label"]

        read = await c.post(f"/api/conversations/{world.cid}/read")
        assert read.status_code == 200 and read.json()["unread"] == 0
        # read marks are per user: the owner still has them unread
    async with client_for(console_app(csettings, pool, redis_client)) as c:
        await sign_in(c, world.owner["email"])
        convs = (await c.get("/api/conversations")).json()["conversations"]
        assert convs[0]["unread"] == 2


async def test_filters_search_and_cursor_pages(
    pool: asyncpg.Pool, redis_client: aioredis.Redis, csettings: ConsoleSettings, world: World
) -> None:
    for i in range(4):
        await conversation(pool, world.a, name=f"Cliente {i}", messages=1, state="human")
    async with client_for(console_app(csettings, pool, redis_client)) as c:
        await sign_in(c, world.owner["email"])
        humans = (await c.get("/api/conversations?state=human")).json()["conversations"]
        assert len(humans) == 4 and {h["state"]["value"] for h in humans} == {"human"}
        found = (await c.get("/api/conversations", params={"q": "maria"})).json()
        assert [x["id"] for x in found["conversations"]] == [world.cid]
        by_phone = (await c.get("/api/conversations", params={"q": "98765-0001"})).json()
        assert [x["id"] for x in by_phone["conversations"]] == [world.cid]
        seen: list[str] = []
        cursor = None
        while True:
            params = {"limit": "2", **({"cursor": cursor} if cursor else {})}
            page = (await c.get("/api/conversations", params=params)).json()
            seen += [x["id"] for x in page["conversations"]]
            cursor = page["next_cursor"]
            if not cursor:
                break
        assert len(seen) == 5 and len(set(seen)) == 5
        bad = await c.get("/api/conversations?state=whatever")
        assert bad.status_code == 422


async def test_another_tenants_conversation_is_404_everywhere(
    pool: asyncpg.Pool, redis_client: aioredis.Redis, csettings: ConsoleSettings, world: World
) -> None:
    async with client_for(console_app(csettings, pool, redis_client)) as c:
        await sign_in(c, world.owner_b["email"])
        assert (await c.get("/api/conversations")).json()["conversations"] == []
        base = f"/api/conversations/{world.cid}"
        for method, path, body in [
            ("GET", base, None),
            ("GET", f"{base}/messages", None),
            ("POST", f"{base}/messages", {"text": "oi"}),
            ("POST", f"{base}/takeover", {}),
            ("POST", f"{base}/release", None),
            ("POST", f"{base}/close", {"resolution": "resolved"}),
            ("POST", f"{base}/assign", {"user_id": str(world.owner_b["id"])}),
            ("POST", f"{base}/read", None),
            ("GET", f"{base}/templates", None),
        ]:
            resp = await c.request(method, path, json=body, headers={"Idempotency-Key": "k1"})
            assert resp.status_code == 404, (method, path, resp.text)
        a_message = await pool.fetchval(
            "SELECT id FROM chat_messages WHERE conversation_id = $1 LIMIT 1", world.cid
        )
        assert (await c.get(f"/api/media/{a_message}")).status_code == 404
        assert (await c.get(f"/api/conversations?tenant_id={world.a.id}")).status_code == 404
        assert (await c.get("/api/conversations/not-a-uuid")).status_code == 404
    count = await pool.fetchval(
        "SELECT count(*) FROM chat_messages WHERE conversation_id = $1", world.cid
    )
    assert count == 3


async def test_no_session_is_401_and_no_csrf_is_403(
    pool: asyncpg.Pool, redis_client: aioredis.Redis, csettings: ConsoleSettings, world: World
) -> None:
    async with client_for(console_app(csettings, pool, redis_client)) as c:
        assert (await c.get("/api/conversations")).status_code == 401
        assert (await c.get("/api/events")).status_code == 401
        await sign_in(c, world.agent["email"])
        del c.headers["X-CSRF-Token"]
        resp = await c.post(
            f"/api/conversations/{world.cid}/messages",
            json={"text": "oi"},
            headers={"Idempotency-Key": "x"},
        )
        assert resp.status_code == 403
        assert (await c.post(f"/api/conversations/{world.cid}/takeover")).status_code == 403
    assert (
        await pool.fetchval(
            "SELECT count(*) FROM chat_messages WHERE conversation_id = $1 AND role = 'human'",
            world.cid,
        )
        == 0
    )


async def test_reply_is_idempotent_takes_over_and_goes_to_the_sender(
    pool: asyncpg.Pool,
    redis_client: aioredis.Redis,
    amqp: AbstractRobustConnection,
    csettings: ConsoleSettings,
    app_deps: dict[str, Any],
    world: World,
) -> None:
    await _drain_send_commands(amqp, csettings)
    async with client_for(console_app(csettings, pool, redis_client, **app_deps)) as c:
        await sign_in(c, world.agent["email"])
        url = f"/api/conversations/{world.cid}/messages"
        first = await c.post(
            url, json={"text": "Olá, aqui é o Beto"}, headers={"Idempotency-Key": "r-1"}
        )
        assert first.status_code == 201, first.text
        again = await c.post(url, json={"text": "outro texto"}, headers={"Idempotency-Key": "r-1"})
        assert again.status_code == 200
        assert again.json() == first.json()
        body = first.json()
        assert body["author"] == {
            "kind": "human",
            "user_id": str(world.agent["id"]),
            "name": "Beto Atendente",
        }
        assert body["status"]["value"] == "pending" and body["text"] == "Olá, aqui é o Beto"
        conv = (await c.get(f"/api/conversations/{world.cid}")).json()
        assert conv["state"]["value"] == "human" and conv["state"]["why"] == "human_reply"
        assert conv["assignee"] == {"id": str(world.agent["id"]), "name": "Beto Atendente"}
        # the same key from another user is another message
        owner = await c.post("/api/auth/logout")
        assert owner.status_code in (200, 204)
        await sign_in(c, world.owner["email"])
        other = await c.post(url, json={"text": "Sou a Ana"}, headers={"Idempotency-Key": "r-1"})
        assert other.status_code == 201 and other.json()["id"] != body["id"]
    rows = await pool.fetch(
        "SELECT id, role, author_user_id, provider_instance_id, status FROM chat_messages"
        " WHERE conversation_id = $1 AND role = 'human' ORDER BY id",
        world.cid,
    )
    assert len(rows) == 2 and str(rows[0]["provider_instance_id"]) == world.a.instance_id
    events = await pool.fetch(
        "SELECT event_type, data FROM conversation_events WHERE conversation_id = $1 ORDER BY id",
        world.cid,
    )
    types = [e["event_type"] for e in events]
    assert types.count("human_responded") == 2 and types.count("human_takeover") == 1
    commands = await _drain_send_commands(amqp, csettings)
    assert sorted(m.outbound_id for m in commands) == [rows[0]["id"], rows[1]["id"]]
    assert {m.origin for m in commands} == {"human"}


async def test_bad_replies_are_refused_with_nothing_written(
    pool: asyncpg.Pool,
    redis_client: aioredis.Redis,
    test_env: dict[str, str],
    world: World,
) -> None:
    settings = console_settings(test_env, console_upload_max_bytes=1024)
    closed = await conversation(pool, world.a, last_customer_at=utcnow() - timedelta(hours=25))
    async with client_for(console_app(settings, pool, redis_client)) as c:
        await sign_in(c, world.agent["email"])
        url = f"/api/conversations/{world.cid}/messages"
        key = {"Idempotency-Key": "bad"}
        assert (await c.post(url, json={"text": "oi"})).status_code == 422  # no key
        empty = await c.post(url, json={"text": "   "}, headers=key)
        assert empty.status_code == 422 and "text" in str(empty.json()["detail"])
        long = await c.post(url, json={"text": "a" * 4097}, headers=key)
        assert long.status_code == 422 and "text" in str(long.json()["detail"])
        assert (
            await c.post(url, json={"text": "a" * 4096}, headers={"Idempotency-Key": "ok"})
        ).status_code == 201
        both = await c.post(url, json={}, headers=key)
        assert both.status_code == 422
        window = await c.post(
            f"/api/conversations/{closed}/messages", json={"text": "oi"}, headers=key
        )
        assert window.status_code == 409 and "24 horas" in window.json()["detail"]
        big = await c.post(url, files={"file": ("foto.png", PNG * 40, "image/png")}, headers=key)
        assert big.status_code == 413 and "limite" in big.json()["detail"]
        zipped = await c.post(
            url, files={"file": ("a.zip", b"PK\x03\x04", "application/zip")}, headers=key
        )
        assert zipped.status_code == 415 and "application/zip" in zipped.json()["detail"]
    written = await pool.fetch(
        "SELECT content FROM chat_messages WHERE client_id = $1 AND role = 'human'", world.a.id
    )
    assert [len(r["content"]) for r in written] == [4096]
    assert (
        await pool.fetchval("SELECT state FROM active_conversations WHERE id = $1", closed) == "bot"
    )


async def test_file_reply_is_stored_and_served_back(
    pool: asyncpg.Pool, redis_client: aioredis.Redis, csettings: ConsoleSettings, world: World
) -> None:
    async with client_for(console_app(csettings, pool, redis_client)) as c:
        await sign_in(c, world.agent["email"])
        resp = await c.post(
            f"/api/conversations/{world.cid}/messages",
            files={"file": ("foto.png", PNG, "image/png")},
            data={"caption": "Segue a foto"},
            headers={"Idempotency-Key": "file-1"},
        )
        assert resp.status_code == 201, resp.text
        body = resp.json()
        assert body["type"] == "image" and body["text"] == "Segue a foto"
        assert body["media"]["url"] == f"/api/media/{body['id']}"
        served = await c.get(body["media"]["url"])
        assert served.status_code == 200 and served.content == PNG
        assert served.headers["content-type"] == "image/png"
    payload = await pool.fetchval("SELECT payload FROM chat_messages WHERE id = $1", body["id"])
    assert payload["stored_media"] is True and payload["caption"] == "Segue a foto"


async def test_template_reply_outside_the_window(
    pool: asyncpg.Pool, redis_client: aioredis.Redis, test_env: dict[str, str], world: World
) -> None:
    closed = await conversation(pool, world.a, last_customer_at=utcnow() - timedelta(days=2))
    admin = GraphAdminState()
    admin.add_waba(world.a.waba_id, {world.a.phone_id: "5511999990000"})
    admin.add_token(world.a.token, world.a.waba_id)
    admin.wabas[world.a.waba_id].templates.append(
        {
            "id": "1",
            "name": "retomar_contato",
            "status": "APPROVED",
            "category": "UTILITY",
            "language": "pt_BR",
            "components": [{"type": "BODY", "text": "Olá {{1}}, podemos continuar?"}],
        }
    )
    with serve_in_thread(combined_graph_app(admin, GraphState())) as graph:
        settings = console_settings(test_env, meta_graph_url=graph.url)
        async with client_for(console_app(settings, pool, redis_client)) as c:
            await sign_in(c, world.agent["email"])
            listed = await c.get(f"/api/conversations/{closed}/templates")
            assert listed.status_code == 200, listed.text
            assert [t["name"] for t in listed.json()["templates"]] == ["retomar_contato"]
            url = f"/api/conversations/{closed}/messages"
            unknown = await c.post(
                url,
                json={"template": {"name": "nao_existe", "language": "pt_BR", "parameters": []}},
                headers={"Idempotency-Key": "t-0"},
            )
            assert unknown.status_code == 422
            resp = await c.post(
                url,
                json={
                    "template": {
                        "name": "retomar_contato",
                        "language": "pt_BR",
                        "parameters": ["Maria"],
                    }
                },
                headers={"Idempotency-Key": "t-1"},
            )
            assert resp.status_code == 201, resp.text
            assert resp.json()["type"] == "template"
            assert resp.json()["text"] == "Olá Maria, podemos continuar?"
            # the list is cached: a second read does not ask Graph again
            calls = len(admin.calls("message_templates"))
            await c.get(f"/api/conversations/{closed}/templates")
            assert len(admin.calls("message_templates")) == calls
    payload = await pool.fetchval(
        "SELECT payload FROM chat_messages WHERE id = $1", resp.json()["id"]
    )
    assert payload["template"] == {
        "name": "retomar_contato",
        "language": "pt_BR",
        "components": [{"type": "body", "parameters": [{"type": "text", "text": "Maria"}]}],
    }


async def test_takeover_release_assign_and_close(
    pool: asyncpg.Pool, redis_client: aioredis.Redis, csettings: ConsoleSettings, world: World
) -> None:
    async with client_for(console_app(csettings, pool, redis_client)) as c:
        await sign_in(c, world.agent["email"])
        base = f"/api/conversations/{world.cid}"
        taken = await c.post(f"{base}/takeover", json={"minutes": 30})
        assert taken.status_code == 200, taken.text
        state = taken.json()["state"]
        assert state["value"] == "human" and state["why"] == "console" and state["until"]
        forever = await c.post(f"{base}/takeover", json={})
        assert forever.json()["state"]["until"] is None
        released = await c.post(f"{base}/release")
        assert released.json()["state"]["value"] == "bot"
        assert (await c.post(f"{base}/release")).status_code == 409
        other_tenant_user = await c.post(
            f"{base}/assign", json={"user_id": str(world.owner_b["id"])}
        )
        assert other_tenant_user.status_code == 404
        assigned = await c.post(f"{base}/assign", json={"user_id": str(world.owner["id"])})
        assert assigned.json()["assignee"]["name"] == "Dona Ana"
        bad = await c.post(f"{base}/close", json={"resolution": "maybe"})
        assert bad.status_code == 422
        closed = await c.post(f"{base}/close", json={"resolution": "resolved"})
        assert closed.status_code == 200 and closed.json()["state"]["value"] == "closed"
        assert (await c.post(f"{base}/close", json={"resolution": "resolved"})).status_code == 409
    events = await pool.fetch(
        "SELECT event_type, data FROM conversation_events WHERE conversation_id = $1 ORDER BY id",
        world.cid,
    )
    types = [e["event_type"] for e in events]
    assert types == [
        "human_takeover",
        "bot_resumed",
        "conversation_assigned",
        "resolved",
    ]
    resolved = dict(events[-1]["data"])
    assert resolved["by"] == "human" and resolved["resolved_by"] == "human"
    assert resolved["resolution"] == "resolved" and resolved["duration_ms"] >= 0


async def test_not_resolved_close_is_not_counted_as_resolved(
    pool: asyncpg.Pool, redis_client: aioredis.Redis, csettings: ConsoleSettings, world: World
) -> None:
    async with client_for(console_app(csettings, pool, redis_client)) as c:
        await sign_in(c, world.owner["email"])
        resp = await c.post(
            f"/api/conversations/{world.cid}/close", json={"resolution": "not_resolved"}
        )
        assert resp.status_code == 200
    types = await pool.fetch(
        "SELECT event_type FROM conversation_events WHERE conversation_id = $1", world.cid
    )
    assert [t["event_type"] for t in types] == ["conversation_closed"]


async def test_concurrent_same_key_sends_once(
    pool: asyncpg.Pool, redis_client: aioredis.Redis, csettings: ConsoleSettings, world: World
) -> None:
    async with client_for(console_app(csettings, pool, redis_client)) as c:
        await sign_in(c, world.agent["email"])
        url = f"/api/conversations/{world.cid}/messages"

        async def post() -> httpx.Response:
            return await c.post(url, json={"text": "uma vez"}, headers={"Idempotency-Key": "same"})

        answers = await asyncio.gather(*(post() for _ in range(5)))
    assert sorted(a.status_code for a in answers) == [200, 200, 200, 200, 201]
    assert len({a.json()["id"] for a in answers}) == 1
    assert (
        await pool.fetchval(
            "SELECT count(*) FROM chat_messages WHERE conversation_id = $1 AND role = 'human'",
            world.cid,
        )
        == 1
    )


async def test_a_customers_media_is_downloaded_with_the_tenants_token_and_served(
    pool: asyncpg.Pool, redis_client: aioredis.Redis, test_env: dict[str, str], world: World
) -> None:
    graph = GraphState(tokens={world.a.phone_id: world.a.token})
    media_id = graph.add_media(b"OggS-voice-note", "audio/ogg")
    message_id = await pool.fetchval(
        "INSERT INTO chat_messages (client_id, conversation_id, direction, role, provider,"
        " provider_instance_id, provider_message_id, kind, content, media, payload, status)"
        " VALUES ($1, $2, 'in', 'customer', 'meta', $3, $4, 'audio', 'quero dois pães', $5, $6,"
        " 'received') RETURNING id",
        world.a.id,
        world.cid,
        world.a.instance_id,
        f"wamid.{media_id}",
        {"media_id": media_id, "mime_type": "audio/ogg", "voice": True},
        {"media_processed": True},
    )
    with serve_in_thread(combined_graph_app(GraphAdminState(), graph)) as server:
        settings = console_settings(test_env, meta_graph_url=server.url)
        async with client_for(console_app(settings, pool, redis_client)) as c:
            await sign_in(c, world.agent["email"])
            thread = (await c.get(f"/api/conversations/{world.cid}/messages")).json()["messages"]
            voice = next(m for m in thread if m["id"] == message_id)
            assert voice["media"]["transcript"] == "quero dois pães" and voice["media"]["voice"]
            served = await c.get(voice["media"]["url"])
            assert served.status_code == 200, served.text
            assert served.content == b"OggS-voice-note"
            assert served.headers["content-type"] == "audio/ogg"
            text_message = thread[0]["id"]
            assert (await c.get(f"/api/media/{text_message}")).status_code == 404
    auth = [r.headers.get("authorization") for r in graph.requests if r.method == "GET"]
    assert auth and set(auth) == {f"Bearer {world.a.token}"}


async def test_an_operator_reads_any_tenant_by_naming_it(
    pool: asyncpg.Pool, redis_client: aioredis.Redis, csettings: ConsoleSettings, world: World
) -> None:
    operator = await new_user(pool, None, "operator")
    async with client_for(console_app(csettings, pool, redis_client)) as c:
        await sign_in(c, operator["email"])
        missing = await c.get("/api/conversations")
        assert missing.status_code == 422 and "tenant_id" in missing.text
        listed = await c.get(f"/api/conversations?tenant_id={world.a.id}")
        assert [x["id"] for x in listed.json()["conversations"]] == [world.cid]
        other = await c.get(f"/api/conversations/{world.cid}?tenant_id={world.b.id}")
        assert other.status_code == 404
