"""A Meta voice note end to end: webhook -> download -> transcription -> answer from the KB.

gateway + ingest + rag-worker + sender as processes; fake Graph and fake OpenAI on loopback.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import asyncpg
import httpx
import pytest

from tests.e2e.stack import CORPUS, Stack, eventually, signed
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.server import ServerThread
from walocal.graph import make_graph_app
from walocal.graph_state import GraphState

pytestmark = pytest.mark.e2e

SECRET = "test-app-secret"
AUTH = {"Authorization": "Bearer test-admin-token"}
PHONE, DISPLAY, TOKEN = "555000555000555", "5511955550000", "EAAmediaE2E0000000000000001"
HOURS_DOC = (
    "Horário de funcionamento: a loja abre de segunda a sábado, das 9h às 18h. "
    "Aos domingos a loja fica fechada."
)
VOICE = b"OggS" + b"fake-opus-voice-note" * 40


@dataclass
class Env:
    graph: GraphState
    openai: FakeOpenAI
    http: httpx.AsyncClient
    pool: asyncpg.Pool
    tenant: str


@pytest.fixture(scope="module")
def fakes() -> Iterator[tuple[GraphState, str, FakeOpenAI]]:
    state = GraphState(tokens={PHONE: TOKEN})
    server = ServerThread(make_graph_app(state)).start()
    try:
        with FakeOpenAI.serve() as openai_fake:
            yield state, server.url, openai_fake
    finally:
        server.stop()


@pytest.fixture(scope="module")
async def env(
    fakes: tuple[GraphState, str, FakeOpenAI], test_env: dict[str, str], pool: asyncpg.Pool
) -> AsyncIterator[Env]:
    graph, graph_url, openai_fake = fakes
    stack = Stack({**test_env, "META_GRAPH_URL": graph_url})
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
            tenant = await _tenant(http)
            yield Env(graph, openai_fake, http, pool, tenant)
    finally:
        stack.stop_all()


async def _tenant(http: httpx.AsyncClient) -> str:
    resp = await http.post(
        "/admin/clients",
        headers=AUTH,
        json={"name": "Loja Som", "tools_config": {"debounce": {"quiet_seconds": 0}}},
    )
    assert resp.status_code == 201, resp.text
    tenant = str(resp.json()["id"])
    config = {"phone_id": PHONE, "display_phone_number": DISPLAY, "access_token": TOKEN}
    resp = await http.post(
        f"/admin/clients/{tenant}/providers",
        headers=AUTH,
        json={"provider_type": "meta", "is_default": True, "config": config},
    )
    assert resp.status_code == 201, resp.text
    resp = await http.post(
        f"/admin/clients/{tenant}/documents",
        headers=AUTH,
        json={"name": "horarios.txt", "text": HOURS_DOC},
    )
    assert resp.status_code == 201, resp.text
    return tenant


def voice_note(sender: str, media_id: str) -> dict[str, Any]:
    """A Meta voice-note webhook built from the real corpus payload."""
    body: dict[str, Any] = json.loads((CORPUS / "meta" / "inbound_audio_voice.json").read_text())
    value = body["entry"][0]["changes"][0]["value"]
    value["metadata"] = {"display_phone_number": DISPLAY, "phone_number_id": PHONE}
    value["contacts"] = [{"profile": {"name": "Cliente"}, "wa_id": sender}]
    msg = value["messages"][0]
    msg.update(
        {"from": sender, "id": f"wamid.{uuid.uuid4().hex}", "timestamp": str(int(time.time()))}
    )
    msg["audio"]["id"] = media_id
    return body


async def test_voice_note_is_transcribed_and_answered_from_the_knowledge_base(env: Env) -> None:
    env.openai.transcript_text = "qual o horário de funcionamento?"
    media_id = env.graph.add_media(VOICE, "audio/ogg; codecs=opus")
    to = "55119" + str(uuid.uuid4().int)[:8]
    raw, headers = signed(voice_note(to, media_id), SECRET)

    assert (await env.http.post("/meta/webhook", content=raw, headers=headers)).status_code == 200

    async def replied() -> list[Any]:
        return env.graph.sent_messages(to=to)

    (reply,) = await eventually(replied, timeout=15)
    assert "9h às 18h" in reply.json["text"]["body"]
    (transcribed,) = env.openai.transcriptions
    assert transcribed["auth"] == "Bearer test" and transcribed["size"] == len(VOICE)
    downloads = [r for r in env.graph.requests if r.path == f"/media-download/{media_id}"]
    assert [r.headers["authorization"] for r in downloads] == [f"Bearer {TOKEN}"]
    stored = await env.pool.fetchval(
        "SELECT content FROM chat_messages WHERE client_id = $1 AND direction = 'in'"
        " AND kind = 'audio'",
        env.tenant,
    )
    assert stored == "qual o horário de funcionamento?"
    await asyncio.sleep(1.0)  # a duplicated reply would show up by now
    assert len(env.graph.sent_messages(to=to)) == 1
