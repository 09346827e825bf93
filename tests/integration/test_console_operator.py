"""The operator in the console: the tenant list, choosing a tenant, and working in it
(pages, htmx fragments, the API and the event stream) on the real database, broker, Redis."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import httpx
import pytest
import redis.asyncio as aioredis
from aio_pika.abc import AbstractRobustConnection

from console.settings import ConsoleSettings
from tests.integration.console_helpers import (
    client_for,
    console_app,
    console_settings,
    new_user,
    sign_in,
)
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


@pytest.fixture(scope="module")
def box(test_env: dict[str, str]) -> SecretBox:
    return SecretBox(test_env["ENCRYPTION_KEY"])


@pytest.fixture()
async def base_url(
    pool: asyncpg.Pool,
    redis_client: aioredis.Redis,
    amqp: AbstractRobustConnection,
    csettings: ConsoleSettings,
) -> AsyncIterator[str]:
    """The console on a real port (streams need one), with the broker for replies."""
    publisher = AioPikaPublisher(amqp, csettings)
    app = console_app(csettings, pool, redis_client, publisher=publisher, connection=amqp)
    async with served(app) as url:
        yield url
    hub = getattr(app.state, "stream_hub", None)
    if hub is not None:
        await hub.close()
    await publisher.close()


class Shop:
    """Two tenants named with this test's tag (the run's database holds others too)."""

    def __init__(self, pool: asyncpg.Pool, box: SecretBox) -> None:
        self.pool, self.box = pool, box
        self.tag = f"Op{uuid.uuid4().hex[:6]}"

    async def build(self) -> Shop:
        self.a: MetaTenant = await meta_tenant(self.pool, self.box, f"{self.tag} Alfa")
        self.b: MetaTenant = await meta_tenant(self.pool, self.box, f"{self.tag} Beta")
        self.cid_a = await conversation(self.pool, self.a, name="Cliente da Alfa", state="human")
        self.cid_b = await conversation(self.pool, self.b, name="Cliente da Beta")
        self.operator = await new_user(self.pool, None, "operator", name="Olga Operadora")
        self.owner_a = await new_user(self.pool, self.a.id, "owner")
        self.agent_a = await new_user(self.pool, self.a.id, "agent")
        return self

    async def number_of(self, tenant: MetaTenant) -> str:
        return str(
            await self.pool.fetchval(
                "SELECT phone_number FROM client_providers WHERE id = $1", tenant.instance_id
            )
        )


@pytest.fixture()
async def shop(pool: asyncpg.Pool, box: SecretBox) -> Shop:
    return await Shop(pool, box).build()


@asynccontextmanager
async def signed_in(base_url: str, email: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=base_url, timeout=20) as c:
        await sign_in(c, email)
        yield c


def _is(kind: str, **data: Any) -> Any:
    return lambda e: e.event == kind and all(e.data.get(k) == v for k, v in data.items())


async def test_operator_lists_tenants_by_page_with_numbers_and_open_human_conversations(
    pool: asyncpg.Pool, redis_client: aioredis.Redis, csettings: ConsoleSettings, shop: Shop
) -> None:
    gama = await meta_tenant(pool, shop.box, f"{shop.tag} gama")  # sorted case-insensitively
    await conversation(pool, shop.a, name="Outra da Alfa", state="human")
    await conversation(pool, shop.a, name="Com o bot", state="bot")
    async with client_for(console_app(csettings, pool, redis_client)) as c:
        await sign_in(c, shop.operator["email"])
        first = await c.get("/api/operator/tenants", params={"q": shop.tag, "limit": 2})
        assert first.status_code == 200, first.text
        page = first.json()
        assert [t["id"] for t in page["tenants"]] == [shop.a.id, shop.b.id]
        alfa = page["tenants"][0]
        assert alfa["name"] == f"{shop.tag} Alfa"
        assert alfa["numbers"] == [await shop.number_of(shop.a)]
        assert alfa["open_human"] == 2 and page["tenants"][1]["open_human"] == 0
        assert page["next_cursor"]
        second = await c.get(
            "/api/operator/tenants",
            params={"q": shop.tag, "limit": 2, "cursor": page["next_cursor"]},
        )
        assert [t["id"] for t in second.json()["tenants"]] == [gama.id]
        assert second.json()["next_cursor"] is None

        # by the digits of a number, however it is typed
        digits = await shop.number_of(shop.b)
        typed = f"+{digits[:2]} ({digits[2:4]}) {digits[4:9]}-{digits[9:]}"
        found = await c.get("/api/operator/tenants", params={"q": typed})
        assert [t["id"] for t in found.json()["tenants"]] == [shop.b.id]
        # a name with digits in it is a name: its digits match no number (the run's other
        # tenants have random numbers; this tag's hex digits once matched one)
        named = await c.get("/api/operator/tenants", params={"q": f"Loja {digits[4:9]}"})
        assert shop.b.id not in [t["id"] for t in named.json()["tenants"]]
        # LIKE wildcards are literal text
        wild = await c.get("/api/operator/tenants", params={"q": f"{shop.tag}%"})
        assert wild.json()["tenants"] == []

        bad = await c.get("/api/operator/tenants", params={"cursor": "não-é-cursor"})
        assert bad.status_code == 422 and "cursor" in bad.text
        too_many = await c.get("/api/operator/tenants", params={"limit": 1000})
        assert too_many.status_code == 422


async def test_owners_and_agents_get_403_on_the_tenant_list_and_the_chooser(
    pool: asyncpg.Pool, redis_client: aioredis.Redis, csettings: ConsoleSettings, shop: Shop
) -> None:
    app = console_app(csettings, pool, redis_client)
    for user in (shop.owner_a, shop.agent_a):
        async with client_for(app) as c:
            await sign_in(c, user["email"])
            listed = await c.get("/api/operator/tenants")
            assert listed.status_code == 403, listed.text
            chosen = await c.put("/api/operator/acting-tenant", json={"tenant_id": shop.b.id})
            assert chosen.status_code == 403
            page = await c.get("/clientes")
            assert page.status_code == 403 and "Acesso não permitido" in page.text
            posted = await c.post("/clientes/escolher", data={"tenant_id": shop.b.id})
            assert posted.status_code == 403
            # still their own tenant, unchanged
            mine = await c.get("/api/conversations")
            assert [x["id"] for x in mine.json()["conversations"]] == [shop.cid_a]
            assert "Atuando como" not in (await c.get("/inbox")).text


async def test_operator_picks_a_tenant_and_works_in_it_on_pages_api_and_stream(
    base_url: str, amqp: AbstractRobustConnection, csettings: ConsoleSettings, shop: Shop
) -> None:
    async with signed_in(base_url, shop.operator["email"]) as c:
        # nothing chosen yet: the pages send the operator to the chooser
        inbox = await c.get("/inbox")
        assert inbox.status_code == 303 and inbox.headers["location"] == "/clientes"
        fragment = await c.get("/inbox?fragment=list", headers={"HX-Request": "true"})
        assert fragment.headers["hx-redirect"] == "/clientes"
        assert (await c.get("/api/conversations")).status_code == 422

        chooser = await c.get("/clientes", params={"q": shop.tag})
        assert chooser.status_code == 200
        assert f"{shop.tag} Alfa" in chooser.text and f"{shop.tag} Beta" in chooser.text
        assert "1 com atendente" in chooser.text
        assert "Nenhum cliente escolhido" in chooser.text
        token = re.search(r'name="csrf_token" value="([^"]+)"', chooser.text)
        assert token is not None
        found = await c.get(
            "/clientes",
            params={"q": "Alfa " + shop.tag[::-1], "fragment": "list"},
            headers={"HX-Request": "true"},
        )
        assert "tenant-row" not in found.text and "Nenhum cliente encontrado" in found.text

        # the form needs the session's CSRF token (sent as a field, no header)
        refused = await c.post(
            "/clientes/escolher", data={"tenant_id": shop.a.id}, headers={"X-CSRF-Token": ""}
        )
        assert refused.status_code == 403
        unknown = await c.post(
            "/clientes/escolher",
            data={"tenant_id": str(uuid.uuid4()), "csrf_token": token.group(1)},
            headers={"X-CSRF-Token": ""},
        )
        assert unknown.status_code == 404
        chosen = await c.post(
            "/clientes/escolher",
            data={"tenant_id": shop.a.id, "csrf_token": token.group(1)},
            headers={"X-CSRF-Token": ""},
        )
        assert chosen.status_code == 303 and chosen.headers["location"] == "/inbox"

        # pages, fragments and the API are A's without naming it
        inbox = await c.get("/inbox")
        assert inbox.status_code == 200
        assert "Atuando como" in inbox.text and f"{shop.tag} Alfa" in inbox.text
        assert "Cliente da Alfa" in inbox.text and "Cliente da Beta" not in inbox.text
        listed = await c.get("/inbox?fragment=list&state=human", headers={"HX-Request": "true"})
        assert "Cliente da Alfa" in listed.text
        thread = await c.get(f"/inbox/{shop.cid_a}")
        assert thread.status_code == 200 and "mensagem 2" in thread.text
        live = await c.get(f"/inbox/{shop.cid_a}?fragment=live", headers={"HX-Request": "true"})
        assert live.status_code == 200 and "thread-head" in live.text
        assert (await c.get(f"/inbox/{shop.cid_b}")).status_code == 404
        assert (await c.get(f"/api/conversations/{shop.cid_b}")).status_code == 404
        team = await c.get("/equipe")
        assert team.status_code == 200 and shop.agent_a["email"] in team.text
        api = await c.get("/api/conversations")
        assert [x["id"] for x in api.json()["conversations"]] == [shop.cid_a]
        acting = await c.get("/api/operator/acting-tenant")
        assert acting.json() == {"tenant": {"id": shop.a.id, "name": f"{shop.tag} Alfa"}}

        # the stream carries A's events only; the operator's reply goes out in A
        notifier = BrokerNotifier(amqp, csettings)
        async with c.stream("GET", "/api/events") as resp:
            assert resp.status_code == 200
            events = SseReader(resp)
            await notifier.notify(shop.b.id, shop.cid_b, "message.created", message_id=-2)
            await notifier.notify(shop.a.id, shop.cid_a, "message.created", message_id=-1)
            first = await events.next()
            assert first.data == {"conversation_id": shop.cid_a, "message_id": -1}
            reply = await c.post(
                f"/api/conversations/{shop.cid_a}/messages",
                json={"text": "Oi, aqui é a operadora."},
                headers={"Idempotency-Key": f"op-{shop.tag}"},
            )
            assert reply.status_code == 201, reply.text
            mine = await events.until(_is("message.created", message_id=reply.json()["id"]))
            assert mine.data["conversation_id"] == shop.cid_a
        await notifier.close()
        author = await shop.pool.fetchrow(
            "SELECT client_id, role, content FROM chat_messages WHERE id = $1", reply.json()["id"]
        )
        assert author is not None
        assert (str(author["client_id"]), author["role"]) == (shop.a.id, "human")

        # switching through the API: now B, and A's ids are 404
        switched = await c.put("/api/operator/acting-tenant", json={"tenant_id": shop.b.id})
        assert switched.status_code == 200
        api = await c.get("/api/conversations")
        assert [x["id"] for x in api.json()["conversations"]] == [shop.cid_b]
        assert (await c.get(f"/inbox/{shop.cid_a}")).status_code == 404
        assert f"{shop.tag} Beta" in (await c.get("/inbox")).text
        # naming a tenant explicitly still wins (scripts)
        named = await c.get(f"/api/conversations?tenant_id={shop.a.id}")
        assert [x["id"] for x in named.json()["conversations"]] == [shop.cid_a]
        no_such = await c.put("/api/operator/acting-tenant", json={"tenant_id": str(uuid.uuid4())})
        assert no_such.status_code == 404
        cleared = await c.delete("/api/operator/acting-tenant")
        assert cleared.json() == {"tenant": None}
        assert (await c.get("/inbox")).status_code == 303

    # the choice belongs to one session: another sign-in starts without one
    async with signed_in(base_url, shop.operator["email"]) as other:
        assert (await other.get("/api/conversations")).status_code == 422
