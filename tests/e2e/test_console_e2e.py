"""The console end to end: gateway, ingest, rag-worker, sender and console as processes,
the fake Graph on loopback. A customer asks for a person, the bot hands over, an agent
sees it live, answers through the API, the bot stays silent, the agent closes, the bot
answers again."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import asyncpg
import httpx
import pytest
from aio_pika.abc import AbstractRobustConnection

from tests.e2e.stack import SHORT_SEND_WINDOW, Stack, eventually, meta_text, signed
from tests.fakes.server import ServerThread
from tests.integration.console_helpers import new_user, sign_in
from tests.integration.inbox_helpers import Sse, SseReader
from walocal.graph import make_graph_app
from walocal.graph_state import GraphState, Recorded

pytestmark = pytest.mark.e2e

SECRET = "test-app-secret"
AUTH = {"Authorization": "Bearer test-admin-token"}
PHONE, DISPLAY, TOKEN = "777000777000777", "5511977770000", "EAAtokenConsole00000000000007"
NO_DEBOUNCE = {"debounce": {"quiet_seconds": 0}}


@dataclass
class Env:
    graph: GraphState
    gateway: httpx.AsyncClient
    console_url: str
    pool: asyncpg.Pool
    tenant: str


@pytest.fixture(scope="module")
def graph() -> Iterator[tuple[GraphState, str]]:
    state = GraphState(tokens={PHONE: TOKEN})
    server = ServerThread(make_graph_app(state)).start()
    yield state, server.url
    server.stop()


@pytest.fixture(scope="module")
async def env(
    graph: tuple[GraphState, str],
    test_env: dict[str, str],
    pool: asyncpg.Pool,
    amqp: AbstractRobustConnection,
) -> AsyncIterator[Env]:
    state, url = graph
    stack = Stack({**test_env, "META_GRAPH_URL": url, **SHORT_SEND_WINDOW})
    names = ("meta-gateway", "lancepilot-ingest", "rag-worker", "sender", "console")
    # plain http on loopback: the session cookie without `Secure`
    services = {n: stack.add(n, {"CONSOLE_INSECURE_COOKIES": "1"}) for n in names}
    try:
        await stack.start(*services.values())
        async with httpx.AsyncClient(base_url=services["meta-gateway"].url, timeout=10) as http:
            resp = await http.post(
                "/admin/clients", headers=AUTH, json={"name": "Loja C", "tools_config": NO_DEBOUNCE}
            )
            tenant = resp.json()["id"]
            resp = await http.post(
                f"/admin/clients/{tenant}/providers",
                headers=AUTH,
                json={
                    "provider_type": "meta",
                    "is_default": True,
                    "config": {
                        "phone_id": PHONE,
                        "display_phone_number": DISPLAY,
                        "access_token": TOKEN,
                        "waba_id": "4440004440004",
                    },
                },
            )
            assert resp.status_code == 201, resp.text
            yield Env(state, http, services["console"].url, pool, tenant)
    finally:
        stack.stop_all()


async def customer_says(env: Env, who: str, text: str) -> None:
    raw, headers = signed(meta_text(PHONE, DISPLAY, who, text, name="Carla"), SECRET)
    resp = await env.gateway.post("/meta/webhook", content=raw, headers=headers)
    assert resp.status_code == 200


def texts(sent: list[Recorded]) -> list[str]:
    return [str((r.json or {}).get("text", {}).get("body")) for r in sent]


class Listener:
    """Reads the agent's stream in the background, keeping every event."""

    def __init__(self, reader: SseReader) -> None:
        self.events: list[Sse] = []
        self._task = asyncio.create_task(self._run(reader))

    async def _run(self, reader: SseReader) -> None:
        with contextlib.suppress(EOFError, httpx.HTTPError):
            while True:
                self.events.append(await reader.next(timeout=3600))

    async def wait_for(self, kind: str, **data: Any) -> Sse:
        async def check() -> Sse | None:
            for e in self.events:
                if e.event == kind and all(e.data.get(k) == v for k, v in data.items()):
                    return e
            return None

        found: Sse = await eventually(check, timeout=30)
        return found

    async def close(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


async def test_handover_reply_silence_close_and_the_bot_again(env: Env) -> None:
    agent = await new_user(env.pool, env.tenant, "agent", name="Beto")
    who = "55119" + str(uuid.uuid4().int)[:8]
    async with httpx.AsyncClient(base_url=env.console_url, timeout=30) as console:
        await sign_in(console, agent["email"])
        async with console.stream("GET", "/api/events") as stream:
            assert stream.status_code == 200
            live = Listener(SseReader(stream))
            try:
                # 1. the customer asks for a person: the bot says so and hands over
                await customer_says(env, who, "Quero falar com um atendente, por favor")
                handover = await live.wait_for("handover.requested")
                cid = handover.data["conversation_id"]
                bot_said = await eventually(lambda: _sent(env, who, 1))
                assert len(bot_said) == 1

                # 2. the agent answers through the API: exactly one message reaches Graph,
                # from the tenant's number with its token
                reply = await console.post(
                    f"/api/conversations/{cid}/messages",
                    json={"text": "Oi Carla, aqui é o Beto. Como posso ajudar?"},
                    headers={"Idempotency-Key": "e2e-1"},
                )
                assert reply.status_code == 201, reply.text
                again = await console.post(
                    f"/api/conversations/{cid}/messages",
                    json={"text": "Oi Carla, aqui é o Beto. Como posso ajudar?"},
                    headers={"Idempotency-Key": "e2e-1"},
                )
                assert again.status_code == 200
                human = await eventually(lambda: _sent_text(env, who, "aqui é o Beto"))
                await live.wait_for("message.status", message_id=reply.json()["id"], status="sent")
                await asyncio.sleep(1.5)  # a duplicate would show up by now
                human = await _sent_text(env, who, "aqui é o Beto")
                assert len(human) == 1
                assert human[0].headers["authorization"] == f"Bearer {TOKEN}"
                assert f"/{PHONE}/messages" in human[0].path

                # 3. the customer writes again: it arrives live, the bot stays silent
                before = len(env.graph.sent_messages(to=who))
                await customer_says(env, who, "Ah, que bom! Queria trocar um produto.")
                stored = await eventually(lambda: _customer_message(env, cid, "trocar um produto"))
                await live.wait_for("message.created", conversation_id=cid, message_id=stored)
                await asyncio.sleep(3)  # the bot would have answered by now
                assert len(env.graph.sent_messages(to=who)) == before

                # 4. the agent closes; the next message is the bot's again
                closed = await console.post(
                    f"/api/conversations/{cid}/close", json={"resolution": "resolved"}
                )
                assert closed.status_code == 200 and closed.json()["state"]["value"] == "closed"
                await live.wait_for("conversation.updated", conversation_id=cid, state="closed")
                await customer_says(env, who, "Oi de novo, qual o horário de vocês?")
                after = await eventually(lambda: _sent(env, who, before + 1))
                assert len(after) == before + 1
                assert "Beto" not in texts(after)[-1]
                thread = (await console.get(f"/api/conversations/{cid}/messages")).json()
                authors = [m["author"]["kind"] for m in thread["messages"]]
                assert authors.count("human") == 1 and authors[-1] == "bot"
            finally:
                await live.close()


async def _sent(env: Env, who: str, n: int) -> list[Recorded]:
    sent = env.graph.sent_messages(to=who)
    return sent if len(sent) >= n else []


async def _sent_text(env: Env, who: str, fragment: str) -> list[Recorded]:
    return [r for r in env.graph.sent_messages(to=who) if fragment in texts([r])[0]]


async def _customer_message(env: Env, cid: str, fragment: str) -> int | None:
    value = await env.pool.fetchval(
        "SELECT id FROM chat_messages WHERE conversation_id = $1 AND role = 'customer'"
        " AND content LIKE '%' || $2 || '%'",
        cid,
        fragment,
    )
    return int(value) if value is not None else None
