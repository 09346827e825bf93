"""Admin simulator: the tenant's real responder on a sandbox conversation, history kept."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from meta_gateway.admin.simulator import simulator_router
from tests.conftest import TEST_ENCRYPTION_KEY
from waai.knowledge.ingest import ingest_document
from waai.knowledge.retrieval import PgRetriever
from waai.llm.config import AISettings
from waai.responders.offline import HANDOVER_NO_ANSWER, OfflineResponder
from waai.responders.responder import Responder, ResponderInput, ResponderOutput, Tenant
from wacommon.infra.crypto import SecretBox
from wacommon.infra.settings import Settings
from wacommon.repositories import clients as clients_repo

AUTH = {"Authorization": "Bearer test-admin-token"}
BOX = SecretBox(TEST_ENCRYPTION_KEY)
KB_DOC = """# Wi-Fi

A senha do wifi da loja é pizza2024.

# Entregas

Entregamos em todo o bairro Centro das 18h às 23h, taxa de R$ 5.

# Pagamento

A chave Pix é o CNPJ 12.345.678/0001-90, em nome de Loja Teste LTDA.
"""


class Recording:
    """The offline responder, remembering what each call was given."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.inputs: list[ResponderInput] = []
        self._inner = OfflineResponder(PgRetriever(pool))

    async def respond(self, inp: ResponderInput) -> ResponderOutput:
        self.inputs.append(inp)
        return await self._inner.respond(inp)


def app_client(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")


@pytest.fixture()
async def api(pool: asyncpg.Pool, settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    app = FastAPI()
    # the real composition: build_responder picks the offline responder (no LLM key)
    app.include_router(simulator_router(settings, pool, BOX, ai=AISettings()))
    async with app_client(app) as c:
        yield c


@pytest.fixture(scope="module")
async def tenant_id(pool: asyncpg.Pool) -> str:
    row = await clients_repo.create_client(pool, {"name": "Forno da Vila", "bot_active": False})
    cid = str(row["id"])
    await ingest_document(pool, cid, "loja.md", KB_DOC.encode())
    return cid


async def simulate(
    api: httpx.AsyncClient,
    cid: str,
    *messages: str,
    session: str | None = None,
    headers: dict[str, str] = AUTH,
) -> httpx.Response:
    body: dict[str, object] = {"messages": list(messages)}
    if session:
        body["session"] = session
    return await api.post(f"/admin/clients/{cid}/simulate", json=body, headers=headers)


async def test_answers_from_the_knowledge_base(
    api: httpx.AsyncClient, pool: asyncpg.Pool, tenant_id: str
) -> None:
    resp = await simulate(api, tenant_id, "oi", "qual a senha do wifi?")
    assert resp.status_code == 200, resp.text
    out = resp.json()
    assert any("pizza2024" in r for r in out["replies"])
    assert out["handover_reason"] is None and out["usage"]["model"] == "offline"
    conv = await pool.fetchrow(
        "SELECT contact_key, provider FROM active_conversations WHERE client_id = $1 AND id = $2",
        tenant_id,
        out["conversation_id"],
    )
    assert conv["contact_key"] == f"SIM:{out['session']}" and conv["provider"] == "sandbox"


async def test_a_pix_key_is_repeated_alone_once(api: httpx.AsyncClient, tenant_id: str) -> None:
    resp = await simulate(api, tenant_id, "me passa a chave pix pfv")
    assert resp.status_code == 200, resp.text
    replies = resp.json()["replies"]
    assert "A chave Pix é o CNPJ 12.345.678/0001-90" in replies[0]
    assert replies.count("12.345.678/0001-90") == 1
    assert len(replies) == len(set(replies))


async def test_turns_are_stored_as_sandbox_messages_and_never_queued(
    api: httpx.AsyncClient, pool: asyncpg.Pool, tenant_id: str
) -> None:
    out = (await simulate(api, tenant_id, "qual a taxa de entrega?")).json()
    rows = await pool.fetch(
        "SELECT direction, provider, status, content FROM chat_messages"
        " WHERE client_id = $1 AND conversation_id = $2 ORDER BY id",
        tenant_id,
        out["conversation_id"],
    )
    assert [r["direction"] for r in rows] == ["in"] + ["out"] * len(out["replies"])
    assert {r["provider"] for r in rows} == {"sandbox"}
    assert all(r["status"] == "sent" for r in rows if r["direction"] == "out")
    assert [r["content"] for r in rows[1:]] == out["replies"]
    events = await pool.fetchval(
        "SELECT count(*) FROM conversation_events WHERE client_id = $1 AND conversation_id = $2",
        tenant_id,
        out["conversation_id"],
    )
    assert events == 0


async def test_keeps_history_across_two_calls(
    pool: asyncpg.Pool, settings: Settings, tenant_id: str
) -> None:
    recording = Recording(pool)
    responder_for: Callable[[Tenant], Responder] = lambda _tenant: recording  # noqa: E731
    app = FastAPI()
    app.include_router(
        simulator_router(settings, pool, BOX, ai=AISettings(), responder_for=responder_for)
    )
    session = f"s-{uuid.uuid4().hex[:8]}"
    async with app_client(app) as api:
        first = (await simulate(api, tenant_id, "qual a senha do wifi?", session=session)).json()
        second = (await simulate(api, tenant_id, "e a taxa de entrega?", session=session)).json()
        fresh = (await simulate(api, tenant_id, "oi")).json()
    assert first["conversation_id"] == second["conversation_id"] != fresh["conversation_id"]
    history = recording.inputs[1].history
    assert [(t.role, t.text) for t in history] == [
        ("customer", "qual a senha do wifi?"),
        *[("bot", r) for r in first["replies"]],
    ]
    assert [t.text for t in recording.inputs[1].burst] == ["e a taxa de entrega?"]
    assert recording.inputs[2].history == []


async def test_a_question_outside_the_knowledge_base_reports_the_handover(
    api: httpx.AsyncClient, tenant_id: str
) -> None:
    out = (await simulate(api, tenant_id, "vocês vendem bicicletas elétricas?")).json()
    assert out["handover_reason"] == HANDOVER_NO_ANSWER and out["replies"]


async def test_unknown_tenant_is_not_found(api: httpx.AsyncClient) -> None:
    assert (await simulate(api, str(uuid.uuid4()), "oi")).status_code == 404
    assert (await simulate(api, "nope", "oi")).status_code == 404


async def test_requires_the_admin_token(api: httpx.AsyncClient, tenant_id: str) -> None:
    assert (await simulate(api, tenant_id, "oi", headers={})).status_code == 401
    wrong = {"Authorization": "Bearer wrong"}
    assert (await simulate(api, tenant_id, "oi", headers=wrong)).status_code == 401


@pytest.mark.parametrize(
    "body",
    [
        {"messages": []},
        {"messages": ["  "]},
        {"messages": ["oi"], "session": "../x"},
        {"messages": ["oi"], "extra": 1},
        {},
    ],
)
async def test_bad_bodies_are_rejected(
    api: httpx.AsyncClient, tenant_id: str, body: dict[str, object]
) -> None:
    resp = await api.post(f"/admin/clients/{tenant_id}/simulate", json=body, headers=AUTH)
    assert resp.status_code == 422
