"""Dense vectors: computed at import through the OpenAI and Gemini wire formats, fused at search."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator

import asyncpg
import pytest

from tests.fakes.gemini_server import FakeGemini
from tests.fakes.openai_server import FakeOpenAI
from waai.knowledge.embeddings import (
    Embedder,
    GeminiEmbedder,
    OpenAIEmbedder,
    embed_missing,
    embedder_for,
)
from waai.knowledge.ingest import ingest_document
from waai.knowledge.retrieval import PgRetriever, hybrid_search
from waai.llm.clients import LLMClients
from waai.llm.config import AISettings, llm_config
from wacommon.repositories import knowledge_vectors as vectors
from wacommon.repositories.clients import create_client

HOURS = "Horário\n\nAbrimos de segunda a sábado, das 8h às 20h."
PARKING = "Estacionamento\n\nTemos estacionamento coberto e gratuito para clientes."
PIX = "Pagamento\n\nAceitamos pix, cartão de crédito e débito."


@pytest.fixture(scope="module")
def openai_fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI.serve() as fake:
        yield fake


@pytest.fixture(scope="module")
def gemini_fake() -> Iterator[FakeGemini]:
    with FakeGemini.serve() as fake:
        yield fake


@pytest.fixture()
async def clients() -> AsyncIterator[LLMClients]:
    c = LLMClients(timeout_s=10, max_retries=0, trusted_hosts={"127.0.0.1"})
    yield c
    await c.aclose()


async def _tenant(pool: asyncpg.Pool) -> str:
    row = await create_client(pool, {"name": f"emb-{uuid.uuid4().hex[:6]}"})
    return str(row["id"])


async def _vectors(pool: asyncpg.Pool, tenant_id: str) -> list[asyncpg.Record]:
    return await pool.fetch(
        "SELECT e.model, e.dims, c.text FROM kb_embeddings e"
        " JOIN kb_chunks c ON c.id = e.chunk_id WHERE e.client_id = $1 ORDER BY c.id",
        tenant_id,
    )


async def _load(pool: asyncpg.Pool, tenant_id: str, embedder: Embedder | None) -> None:
    for name, text in (("horario.md", HOURS), ("estacionamento.md", PARKING), ("pix.md", PIX)):
        await ingest_document(pool, tenant_id, name, text.encode(), embedder=embedder)


async def test_openai_vectors_are_computed_at_import_for_every_chunk(
    pool: asyncpg.Pool, openai_fake: FakeOpenAI, clients: LLMClients
) -> None:
    tenant_id = await _tenant(pool)
    embedder = OpenAIEmbedder(clients.openai("sk-test", openai_fake.base_url))
    await _load(pool, tenant_id, embedder)
    rows = await _vectors(pool, tenant_id)
    chunks = await pool.fetchval("SELECT count(*) FROM kb_chunks WHERE client_id = $1", tenant_id)
    assert len(rows) == chunks == 3
    assert {r["model"] for r in rows} == {"openai:text-embedding-3-small"}
    request = openai_fake.embedding_requests[-1]
    assert request["model"] == "text-embedding-3-small"
    assert request["_auth"] == "Bearer sk-test"
    found = await hybrid_search(pool, tenant_id, "vcs tem estacionamento?", 3, embedder)
    assert "coberto e gratuito" in found[0].text


async def test_gemini_vectors_use_batch_embed_with_retrieval_task_types(
    pool: asyncpg.Pool, gemini_fake: FakeGemini, clients: LLMClients
) -> None:
    tenant_id = await _tenant(pool)
    embedder = GeminiEmbedder(clients.gemini("g-key", gemini_fake.url))
    await _load(pool, tenant_id, embedder)
    rows = await _vectors(pool, tenant_id)
    assert {(r["model"], r["dims"]) for r in rows} == {("gemini:gemini-embedding-001:768", 768)}
    first = gemini_fake.embedding_requests[0]
    assert first["_model"] == "gemini-embedding-001"
    assert first["_key"] == "g-key"
    assert {r["taskType"] for r in first["requests"]} == {"RETRIEVAL_DOCUMENT"}
    found = await PgRetriever(pool, embedder=embedder).search(tenant_id, "aceita pix?", k=2)
    assert "pix, cartão" in found[0].text
    assert gemini_fake.embedding_requests[-1]["requests"][0]["taskType"] == "RETRIEVAL_QUERY"


async def test_replacing_a_document_replaces_its_vectors(
    pool: asyncpg.Pool, openai_fake: FakeOpenAI, clients: LLMClients
) -> None:
    tenant_id = await _tenant(pool)
    embedder = OpenAIEmbedder(clients.openai("sk-test", openai_fake.base_url))
    await _load(pool, tenant_id, embedder)
    new_text = "Horário\n\nAgora abrimos todos os dias, das 10h às 22h."
    await ingest_document(pool, tenant_id, "horario.md", new_text.encode(), embedder=embedder)
    texts = [r["text"] for r in await _vectors(pool, tenant_id)]
    assert len(texts) == 3
    assert any("10h às 22h" in t for t in texts)
    assert not any("8h às 20h" in t for t in texts)


async def test_an_embeddings_outage_keeps_the_document_and_lexical_retrieval(
    pool: asyncpg.Pool, openai_fake: FakeOpenAI, clients: LLMClients
) -> None:
    tenant_id = await _tenant(pool)
    embedder = OpenAIEmbedder(clients.openai("sk-test", openai_fake.base_url))
    openai_fake.embedding_status = 503
    try:
        await _load(pool, tenant_id, embedder)
        assert await _vectors(pool, tenant_id) == []
        found = await hybrid_search(pool, tenant_id, "qual o horario de vcs", 3, embedder)
        assert "8h às 20h" in found[0].text
    finally:
        openai_fake.embedding_status = 200
    # the next import (or a backfill) fills in what the outage left without a vector
    assert await embed_missing(pool, tenant_id, embedder) == 3
    assert len(await _vectors(pool, tenant_id)) == 3


async def test_dense_neighbours_never_cross_tenants(
    pool: asyncpg.Pool, openai_fake: FakeOpenAI, clients: LLMClients
) -> None:
    embedder = OpenAIEmbedder(clients.openai("sk-test", openai_fake.base_url))
    owner, other = await _tenant(pool), await _tenant(pool)
    await _load(pool, owner, embedder)
    await ingest_document(pool, other, "outro.md", b"Loja de pneus.", embedder=embedder)
    found = await hybrid_search(pool, other, "estacionamento coberto gratuito", 3, embedder)
    assert all("estacionamento" not in p.text.lower() for p in found)


def test_the_tenants_key_chooses_the_embedder(clients: LLMClients) -> None:
    ai = AISettings(openai_api_key="sk-global", gemini_api_key="g-global")
    plain = llm_config({"llm_config": {"provider": "openai"}}, ai, str)
    assert isinstance(embedder_for(plain, clients), OpenAIEmbedder)
    gemini = llm_config({"llm_config": {"provider": "gemini"}}, ai, str)
    assert isinstance(embedder_for(gemini, clients), GeminiEmbedder)
    off = llm_config({"llm_config": {"provider": "openai", "embedding_model": "off"}}, ai, str)
    assert embedder_for(off, clients) is None
    assert embedder_for(llm_config({}, AISettings(), str), clients) is None
    custom = llm_config(
        {"llm_config": {"provider": "openai", "embedding_model": "nomic-embed-text"}}, ai, str
    )
    custom_embedder = embedder_for(custom, clients)
    assert custom_embedder is not None and custom_embedder.model == "openai:nomic-embed-text"


async def test_vectors_with_components_below_reals_range_are_stored_and_searched(
    pool: asyncpg.Pool,
) -> None:
    tenant_id = await _tenant(pool)
    await ingest_document(pool, tenant_id, "pix.md", PIX.encode())
    [chunk] = await vectors.chunks_without_vector(pool, tenant_id, "m")
    tiny = [1.0, 1e-46, -1e-40, 0.5]
    await vectors.store_vectors(pool, tenant_id, "m", [(chunk.id, tiny)])
    [near] = await vectors.nearest(pool, tenant_id, "m", [1.0, 1e-45, 1e-39, 0.5], 3)
    assert near.chunk_id == chunk.id
    assert near.similarity == pytest.approx(1.0, abs=1e-6)
