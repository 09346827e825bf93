"""Replies beyond plain text end to end: gateway + ingest + rag-worker + sender as processes.

The model (fake OpenAI, reached through the worker's guarded client at the operator's
OPENAI_BASE_URL) asks for reply buttons and a reaction; the fake Graph must receive a Meta
interactive message and a reaction. A tenant whose own base URL points into the private
network gets the offline bot and an `llm_misconfigured` event, and no request leaves for it.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import asyncpg
import httpx
import pytest
from aio_pika.abc import AbstractRobustConnection

from tests.e2e.stack import Stack, eventually, meta_text, signed
from tests.fakes import openai_server as oa
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.server import ServerThread
from walocal.graph import make_graph_app
from walocal.graph_state import GraphState

pytestmark = pytest.mark.e2e

SECRET = "test-app-secret"
AUTH = {"Authorization": "Bearer test-admin-token"}
RICH_PHONE, RICH_DISPLAY = "777000777000771", "5511977770001"
BLOCKED_PHONE, BLOCKED_DISPLAY = "777000777000772", "5511977770002"
TOKENS = {RICH_PHONE: "EAArichE2E000000000000000001", BLOCKED_PHONE: "EAArichE2E000000000000000002"}
NO_DEBOUNCE = {"debounce": {"quiet_seconds": 0}}


@dataclass
class Env:
    graph: GraphState
    openai: FakeOpenAI
    http: httpx.AsyncClient
    pool: asyncpg.Pool
    rich: str
    blocked: str


@pytest.fixture(scope="module")
def fakes() -> Iterator[tuple[GraphState, str, FakeOpenAI]]:
    state = GraphState(tokens=dict(TOKENS))
    server = ServerThread(make_graph_app(state)).start()
    try:
        with FakeOpenAI.serve() as openai_fake:
            yield state, server.url, openai_fake
    finally:
        server.stop()


@pytest.fixture(scope="module")
async def env(
    fakes: tuple[GraphState, str, FakeOpenAI],
    test_env: dict[str, str],
    pool: asyncpg.Pool,
    # the session's broker fixture: it deletes the topology the services declare, so a run
    # of this module alone leaves no queues behind
    amqp: AbstractRobustConnection,
) -> AsyncIterator[Env]:
    graph, graph_url, openai_fake = fakes
    stack = Stack({**test_env, "META_GRAPH_URL": graph_url})
    # the operator's model endpoint: trusted by the guard because the operator chose it
    ai = {"OPENAI_API_KEY": "test", "OPENAI_BASE_URL": openai_fake.base_url}
    services = [
        stack.add("meta-gateway"),
        stack.add("lancepilot-ingest"),
        stack.add("rag-worker", ai),
        stack.add("sender"),
    ]
    try:
        await stack.start(*services)
        async with httpx.AsyncClient(base_url=services[0].url, timeout=10) as http:
            rich = await _tenant(
                http,
                RICH_PHONE,
                RICH_DISPLAY,
                {
                    "reply_options": True,
                    "reactions": {"active": True, "instructions": "Reaja com 🍕 a pedidos."},
                    "llm_config": {"provider": "openai", "model": "gpt-test"},
                },
            )
            # https and a name, so the early check lets it through: the guard refuses it
            # when the connection opens (localhost resolves to loopback)
            port = httpx.URL(openai_fake.base_url).port
            blocked = await _tenant(
                http,
                BLOCKED_PHONE,
                BLOCKED_DISPLAY,
                {
                    "llm_config": {
                        "provider": "openai_compatible",
                        "base_url": f"https://localhost:{port}/v1",
                        "model": "gpt-test",
                    }
                },
            )
            yield Env(graph, openai_fake, http, pool, rich, blocked)
    finally:
        stack.stop_all()


async def _tenant(http: httpx.AsyncClient, phone: str, display: str, tools: dict[str, Any]) -> str:
    resp = await http.post(
        "/admin/clients",
        headers=AUTH,
        json={"name": f"Loja {phone[-1]}", "tools_config": {**NO_DEBOUNCE, **tools}},
    )
    assert resp.status_code == 201, resp.text
    tenant = str(resp.json()["id"])
    config = {
        "phone_id": phone,
        "display_phone_number": display,
        "access_token": TOKENS[phone],
        "waba_id": f"waba-{phone}",
    }
    resp = await http.post(
        f"/admin/clients/{tenant}/providers",
        headers=AUTH,
        json={"provider_type": "meta", "is_default": True, "config": config},
    )
    assert resp.status_code == 201, resp.text
    return tenant


def customer() -> str:
    return "55119" + str(uuid.uuid4().int)[:8]


async def test_buttons_and_a_reaction_reach_the_graph(env: Env) -> None:
    to = customer()
    env.openai.queue(
        {
            "tool_calls": [
                ("offer_options", {"options": ["Pequena", "Média", "Grande"]}),
                ("react_to_message", {"emoji": "🍕"}),
            ]
        },
        oa.text("Qual tamanho você prefere?"),
    )
    body = meta_text(RICH_PHONE, RICH_DISPLAY, to, "quero uma pizza")
    wamid = body["entry"][0]["changes"][0]["value"]["messages"][0]["id"]
    raw, headers = signed(body, SECRET)
    assert (await env.http.post("/meta/webhook", content=raw, headers=headers)).status_code == 200

    async def both_sent() -> list[Any]:
        sent = env.graph.sent_messages(to=to)
        return sent if len(sent) >= 2 else []

    sent = [s.json or {} for s in await eventually(both_sent, timeout=30)]
    assert [s["type"] for s in sent] == ["interactive", "reaction"]
    assert sent[0]["interactive"]["type"] == "button"
    assert sent[0]["interactive"]["body"] == {"text": "Qual tamanho você prefere?"}
    titles = [b["reply"]["title"] for b in sent[0]["interactive"]["action"]["buttons"]]
    assert titles == ["Pequena", "Média", "Grande"]
    assert sent[1]["reaction"] == {"message_id": wamid, "emoji": "🍕"}

    async def stored() -> list[asyncpg.Record]:
        rows = await env.pool.fetch(
            "SELECT kind, content, status FROM chat_messages WHERE client_id = $1"
            " AND direction = 'out' ORDER BY id",
            env.rich,
        )
        return rows if all(r["status"] == "sent" for r in rows) else []

    rows = await eventually(stored, timeout=15)
    assert [r["kind"] for r in rows] == ["interactive", "reaction"]
    # the history keeps the numbered text: other providers and the console read it
    assert rows[0]["content"] == "Qual tamanho você prefere?\n\n1. Pequena\n2. Média\n3. Grande"


async def test_a_base_url_into_the_private_network_is_refused_and_reported(env: Env) -> None:
    to = customer()
    asked_before = len(env.openai.requests)
    raw, headers = signed(meta_text(BLOCKED_PHONE, BLOCKED_DISPLAY, to, "Oi, tudo bem?"), SECRET)
    assert (await env.http.post("/meta/webhook", content=raw, headers=headers)).status_code == 200

    async def reported() -> list[asyncpg.Record]:
        return await env.pool.fetch(
            "SELECT data FROM conversation_events WHERE client_id = $1"
            " AND event_type = 'llm_misconfigured'",
            env.blocked,
        )

    (event,) = await eventually(reported, timeout=30)
    data = event["data"]
    assert data["reason"] == "base_url_blocked" and data["vendor"] == "openai_compatible"

    # the customer is answered anyway (the offline bot), never left in silence
    async def answered() -> list[Any]:
        return env.graph.sent_messages(to=to)

    assert await eventually(answered, timeout=15)
    # the guard refused the connection: the fake behind localhost heard nothing
    assert len(env.openai.requests) == asked_before
