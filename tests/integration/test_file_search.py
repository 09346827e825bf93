"""Gemini File Search: documents mirrored into the tenant's store, and the store used as a tool."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from meta_gateway.admin.knowledge import knowledge_router
from tests.fakes import gemini_server as gm
from tests.fakes.gemini_file_search import FakeFileSearch, serve_gemini_with_file_search
from tests.fakes.gemini_server import FakeGemini
from tests.integration.llm_helpers import BOX, TZ, Offline, new_tenant
from waai.knowledge.file_search import FileSearchSyncs
from waai.knowledge.retrieval import PgRetriever
from waai.llm.clients import LLMClients
from waai.llm.config import AISettings
from waai.llm.factory import build_responder
from waai.llm.misconfig import GuardedResponder
from waai.responders.gemini_responder import GeminiResponder
from waai.responders.responder import ResponderInput, ResponderOutput, Tenant, Turn
from wacommon.infra.settings import Settings
from wacommon.repositories import knowledge as kb
from wacommon.repositories import knowledge_search as kb_search
from wacommon.repositories.events import FakeEventLog

AUTH = {"Authorization": "Bearer test-admin-token"}
FILE_SEARCH = {"llm_config": {"provider": "gemini", "model": "gemini-test", "file_search": True}}
GEMINI_ONLY = {"llm_config": {"provider": "gemini", "model": "gemini-test"}}
HOURS_TEXT = "Horário de funcionamento: abrimos de segunda a sábado, das 8h às 20h."


@pytest.fixture(scope="module")
def gemini() -> Iterator[tuple[FakeGemini, FakeFileSearch]]:
    with serve_gemini_with_file_search() as served:
        yield served


@pytest.fixture()
def ai(gemini: tuple[FakeGemini, FakeFileSearch]) -> AISettings:
    return AISettings(gemini_api_key="global-gemini-key", gemini_base_url=gemini[0].url)


@pytest.fixture()
async def api(
    pool: asyncpg.Pool, settings: Settings, ai: AISettings
) -> AsyncIterator[httpx.AsyncClient]:
    syncs = FileSearchSyncs(ai, BOX.decrypt, poll_interval_s=0.01, poll_timeout_s=10)
    app = FastAPI()
    app.include_router(knowledge_router(settings, pool, file_search=syncs))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        yield c


async def add(api: httpx.AsyncClient, tenant: Tenant, name: str, text: str) -> str:
    resp = await api.post(
        f"/admin/clients/{tenant.id}/documents", json={"name": name, "text": text}, headers=AUTH
    )
    assert resp.status_code == 201, resp.text
    return str(resp.json()["id"])


async def store_of(pool: asyncpg.Pool, tenant: Tenant) -> str | None:
    value = await pool.fetchval(
        "SELECT store_name FROM kb_file_search WHERE client_id = $1", tenant.id
    )
    return str(value) if value else None


async def sync_row(pool: asyncpg.Pool, tenant: Tenant, doc_id: str) -> asyncpg.Record:
    row = await pool.fetchrow(
        "SELECT fs_document, fs_error FROM kb_documents WHERE client_id = $1 AND id = $2",
        tenant.id,
        doc_id,
    )
    assert row is not None
    return row


async def ask(
    pool: asyncpg.Pool,
    tenant: Tenant,
    clients: LLMClients,
    ai: AISettings,
    question: str,
) -> ResponderOutput:
    async with httpx.AsyncClient() as http:
        responder = build_responder(
            tenant,
            settings=ai,
            retriever=PgRetriever(pool),
            pool=pool,
            http=http,
            events=FakeEventLog(),
            decrypt=BOX.decrypt,
            clients=clients,
            offline=Offline(),
        )
        assert isinstance(responder, GuardedResponder)
        assert isinstance(responder.inner, GeminiResponder)
        now = datetime.now(TZ)
        return await responder.respond(
            ResponderInput(
                tenant=tenant,
                conversation_id="7b0a9c3e-0000-4000-8000-000000000009",
                contact_key="5511977775555",
                contact_name="Lia",
                history=[],
                burst=[Turn("customer", question, now)],
                now=now,
            )
        )


def file_search_tools(request: dict[str, Any]) -> list[list[str]]:
    """The store names of every fileSearch tool of a recorded generateContent request."""
    out = []
    for tool in request.get("tools") or []:
        spec = tool.get("fileSearch", tool.get("file_search"))
        if spec is not None:
            out.append(spec.get("fileSearchStoreNames", spec.get("file_search_store_names")))
    return out


async def test_documents_are_uploaded_to_one_store_per_tenant(
    pool: asyncpg.Pool, api: httpx.AsyncClient, gemini: tuple[FakeGemini, FakeFileSearch]
) -> None:
    _, state = gemini
    tenant = await new_tenant(pool, FILE_SEARCH, "")
    created, polls = len(state.created), state.polls
    first = await add(api, tenant, "horarios.txt", HOURS_TEXT)
    second = await add(api, tenant, "pix.md", "# Pix\nA chave Pix é o CNPJ 12.345.678/0001-90.")

    assert len(state.created) == created + 1  # the store is created once
    store = await store_of(pool, tenant)
    assert store == state.created[-1]
    assert state.stores[store] == f"wa-{tenant.id}"
    remote = {d.display_name: d for d in state.in_store(store)}
    assert set(remote) == {"horarios.txt", "pix.md"}
    assert remote["horarios.txt"].data == HOURS_TEXT.encode()
    assert remote["horarios.txt"].mime_type == "text/plain"
    assert remote["pix.md"].mime_type == "text/markdown"
    assert state.polls >= polls + 2  # each upload's operation was polled until done
    for doc_id, name in ((first, "horarios.txt"), (second, "pix.md")):
        row = await sync_row(pool, tenant, doc_id)
        assert row["fs_document"] == remote[name].name and row["fs_error"] is None


async def test_deleting_a_document_removes_it_from_the_store(
    pool: asyncpg.Pool, api: httpx.AsyncClient, gemini: tuple[FakeGemini, FakeFileSearch]
) -> None:
    _, state = gemini
    tenant = await new_tenant(pool, FILE_SEARCH, "")
    doc_id = await add(api, tenant, "horarios.txt", HOURS_TEXT)
    remote = (await sync_row(pool, tenant, doc_id))["fs_document"]
    assert remote in state.documents

    resp = await api.delete(f"/admin/clients/{tenant.id}/documents/{doc_id}", headers=AUTH)
    assert resp.status_code == 204
    assert remote not in state.documents and remote in state.deleted
    assert await kb.get_document(pool, tenant.id, doc_id) is None


async def test_replacing_a_document_re_uploads_it(
    pool: asyncpg.Pool, api: httpx.AsyncClient, gemini: tuple[FakeGemini, FakeFileSearch]
) -> None:
    _, state = gemini
    tenant = await new_tenant(pool, FILE_SEARCH, "")
    doc_id = await add(api, tenant, "horarios.txt", HOURS_TEXT)
    old = (await sync_row(pool, tenant, doc_id))["fs_document"]

    assert await add(api, tenant, "horarios.txt", "Abrimos todos os dias das 7h às 22h.") == doc_id
    new = (await sync_row(pool, tenant, doc_id))["fs_document"]
    assert new != old and old in state.deleted
    store = await store_of(pool, tenant)
    assert store is not None
    assert [d.data for d in state.in_store(store)] == [
        b"Abrimos todos os dias das 7h \xc3\xa0s 22h."
    ]

    # the same content again is already in the store: nothing to upload
    uploaded = len(state.documents)
    await add(api, tenant, "horarios.txt", "Abrimos todos os dias das 7h às 22h.")
    assert len(state.documents) == uploaded
    assert (await sync_row(pool, tenant, doc_id))["fs_document"] == new


async def test_a_reply_carries_the_file_search_tool_with_the_tenants_store(
    pool: asyncpg.Pool,
    api: httpx.AsyncClient,
    clients: LLMClients,
    ai: AISettings,
    gemini: tuple[FakeGemini, FakeFileSearch],
) -> None:
    fake, _ = gemini
    tenant = await new_tenant(pool, FILE_SEARCH, "")
    await add(api, tenant, "horarios.txt", HOURS_TEXT)
    store = await store_of(pool, tenant)
    first = len(fake.requests)
    fake.queue(gm.text("Abrimos de segunda a sábado, das 8h às 20h."))

    out = await ask(pool, tenant, clients, ai, "que horas vcs abrem?")

    assert out.messages == ["Abrimos de segunda a sábado, das 8h às 20h."]
    [request] = fake.requests[first:]
    assert file_search_tools(request) == [[store]]
    declared = {d["name"] for t in request["tools"] for d in t.get("functionDeclarations", [])}
    assert "transfer_to_human" in declared  # our functions ride along in the same request
    assert request["toolConfig"]["includeServerSideToolInvocations"] is True


async def test_a_tenant_without_file_search_syncs_nothing_and_sends_no_such_tool(
    pool: asyncpg.Pool,
    api: httpx.AsyncClient,
    clients: LLMClients,
    ai: AISettings,
    gemini: tuple[FakeGemini, FakeFileSearch],
) -> None:
    fake, state = gemini
    tenant = await new_tenant(pool, GEMINI_ONLY, "")
    uploaded = len(state.documents)
    doc_id = await add(api, tenant, "horarios.txt", HOURS_TEXT)
    assert len(state.documents) == uploaded and await store_of(pool, tenant) is None
    assert (await sync_row(pool, tenant, doc_id))["fs_document"] is None

    first = len(fake.requests)
    fake.queue(gm.text("Abrimos às 8h."))
    await ask(pool, tenant, clients, ai, "que horas vcs abrem?")
    [request] = fake.requests[first:]
    assert file_search_tools(request) == []
    assert "includeServerSideToolInvocations" not in request.get("toolConfig", {})


async def test_a_store_failure_keeps_the_local_document_and_local_retrieval_answers(
    pool: asyncpg.Pool,
    api: httpx.AsyncClient,
    clients: LLMClients,
    ai: AISettings,
    gemini: tuple[FakeGemini, FakeFileSearch],
) -> None:
    fake, state = gemini
    tenant = await new_tenant(pool, FILE_SEARCH, "")
    state.failing = 503
    try:
        doc_id = await add(api, tenant, "horarios.txt", HOURS_TEXT)
    finally:
        state.failing = None

    row = await sync_row(pool, tenant, doc_id)
    assert row["fs_document"] is None and "503" in row["fs_error"]
    assert await store_of(pool, tenant) is None
    passages = await kb_search.search(pool, tenant.id, "que horas voces abrem no sabado?")
    assert passages and passages[0].document == "horarios.txt"

    first = len(fake.requests)
    fake.queue(gm.text("Abrimos de segunda a sábado, das 8h às 20h."))
    out = await ask(pool, tenant, clients, ai, "que horas voces abrem no sabado?")
    assert out.messages == ["Abrimos de segunda a sábado, das 8h às 20h."]
    [request] = fake.requests[first:]
    assert file_search_tools(request) == []  # no store yet: local passages only
    assert HOURS_TEXT in request["systemInstruction"]["parts"][0]["text"]

    # the next successful sync uploads it and clears the error
    await add(api, tenant, "horarios.txt", HOURS_TEXT)
    row = await sync_row(pool, tenant, doc_id)
    assert row["fs_document"] in state.documents and row["fs_error"] is None


async def test_a_failed_remote_delete_is_retried_on_the_next_sync(
    pool: asyncpg.Pool, api: httpx.AsyncClient, gemini: tuple[FakeGemini, FakeFileSearch]
) -> None:
    _, state = gemini
    tenant = await new_tenant(pool, FILE_SEARCH, "")
    doc_id = await add(api, tenant, "horarios.txt", HOURS_TEXT)
    remote = (await sync_row(pool, tenant, doc_id))["fs_document"]
    state.failing = 500
    try:
        resp = await api.delete(f"/admin/clients/{tenant.id}/documents/{doc_id}", headers=AUTH)
    finally:
        state.failing = None
    assert resp.status_code == 204  # gone locally: out of retrieval at once
    assert await kb.get_document(pool, tenant.id, doc_id) is None
    assert remote in state.documents

    await add(api, tenant, "pix.txt", "A chave Pix é o CNPJ.")
    assert remote not in state.documents
    left = await pool.fetchval(
        "SELECT count(*) FROM kb_file_search_orphans WHERE client_id = $1", tenant.id
    )
    assert left == 0


async def test_a_model_refusing_file_search_with_functions_is_asked_again_without_it(
    pool: asyncpg.Pool,
    api: httpx.AsyncClient,
    clients: LLMClients,
    ai: AISettings,
    gemini: tuple[FakeGemini, FakeFileSearch],
) -> None:
    fake, _ = gemini
    tenant = await new_tenant(pool, FILE_SEARCH, "")
    await add(api, tenant, "horarios.txt", HOURS_TEXT)
    first = len(fake.requests)
    fake.queue(gm.error(400, "Tool use with function calling is unsupported"), gm.text("8h."))
    out = await ask(pool, tenant, clients, ai, "que horas vcs abrem?")
    assert out.messages == ["8h."]
    refused, retried = fake.requests[first:]
    assert len(file_search_tools(refused)) == 1 and file_search_tools(retried) == []
