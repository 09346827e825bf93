"""The knowledge base against the real database: store, replace, delete, search, tenant walls."""

from __future__ import annotations

import uuid
from pathlib import Path

import asyncpg

from waai.knowledge.ingest import ingest_document
from waai.knowledge.retrieval import PgRetriever
from wacommon.repositories import knowledge, knowledge_search
from wacommon.repositories.clients import create_client

KB = Path(__file__).resolve().parent.parent / "data" / "kb"


async def _tenant(pool: asyncpg.Pool) -> str:
    row = await create_client(pool, {"name": f"kb-{uuid.uuid4().hex[:6]}"})
    return str(row["id"])


async def _load_kb(pool: asyncpg.Pool, tenant_id: str) -> None:
    for path in sorted(KB.iterdir()):
        if path.suffix in {".md", ".txt", ".csv", ".html", ".pdf"}:
            await ingest_document(pool, tenant_id, path.name, path.read_bytes())


async def test_a_question_returns_the_passage_that_answers_it(pool: asyncpg.Pool) -> None:
    tenant_id = await _tenant(pool)
    await _load_kb(pool, tenant_id)
    found = await PgRetriever(pool).search(tenant_id, "qto é a taxa de entrega pro taquaral", k=3)
    assert found[0].document == "entregas.txt"
    assert "R$ 12,00 para o Taquaral" in found[0].text
    assert 0 < found[0].score <= 1
    assert [p.score for p in found] == sorted((p.score for p in found), reverse=True)


async def test_misspelt_and_unaccented_questions_still_find_the_answer(pool: asyncpg.Pool) -> None:
    tenant_id = await _tenant(pool)
    await _load_kb(pool, tenant_id)
    margherita = await knowledge_search.search(pool, tenant_id, "qto ta a margerita", k=1)
    assert "Margherita" in margherita[0].text
    pix = await knowledge_search.search(pool, tenant_id, "me passa a chave pix pfv", k=1)
    assert "12.345.678/0001-90" in pix[0].text


async def test_nothing_relevant_returns_no_passage(pool: asyncpg.Pool) -> None:
    tenant_id = await _tenant(pool)
    await _load_kb(pool, tenant_id)
    assert await knowledge_search.search(pool, tenant_id, "vcs vendem pneu de bicicleta?") == []
    assert await knowledge_search.search(pool, tenant_id, "oi, bom dia!") == []


async def test_re_adding_a_document_replaces_it(pool: asyncpg.Pool) -> None:
    tenant_id = await _tenant(pool)
    first = await ingest_document(pool, tenant_id, "horario.txt", b"Abrimos as 8h da manha.")
    second = await ingest_document(
        pool, tenant_id, "horario.txt", b"Funcionamos das 10h as 22h.\n\nFechamos aos domingos."
    )
    assert second.id == first.id
    assert second.content_hash != first.content_hash
    docs = await knowledge.list_documents(pool, tenant_id)
    assert [(d.name, d.chunk_count, d.source_kind) for d in docs] == [("horario.txt", 1, "txt")]
    found = await knowledge_search.search(pool, tenant_id, "que horas abre?")
    assert [p.text for p in found] == ["Funcionamos das 10h as 22h.\n\nFechamos aos domingos."]


async def test_deleting_a_document_removes_it_from_retrieval(pool: asyncpg.Pool) -> None:
    tenant_id = await _tenant(pool)
    doc = await ingest_document(
        pool, tenant_id, "pix.md", b"# Pix\n\nChave Pix: 11.222.333/0001-44"
    )
    assert await knowledge_search.search(pool, tenant_id, "qual a chave pix")
    assert await knowledge.get_document(pool, tenant_id, doc.id) == doc
    assert await knowledge.delete_document(pool, tenant_id, doc.id) is True
    assert await knowledge_search.search(pool, tenant_id, "qual a chave pix") == []
    assert await knowledge.list_documents(pool, tenant_id) == []
    assert await knowledge.delete_document(pool, tenant_id, doc.id) is False


async def test_a_tenant_never_retrieves_another_tenants_passages(pool: asyncpg.Pool) -> None:
    tenant_a, tenant_b = await _tenant(pool), await _tenant(pool)
    await _load_kb(pool, tenant_a)
    assert await knowledge_search.search(pool, tenant_b, "qual a chave pix") == []
    await ingest_document(pool, tenant_b, "b.txt", b"A chave Pix da loja B e o telefone.")
    found = await knowledge_search.search(pool, tenant_b, "qual a chave pix", k=3)
    assert [p.document for p in found] == ["b.txt"]
    doc_a = (await knowledge.list_documents(pool, tenant_a))[0]
    assert await knowledge.delete_document(pool, tenant_b, doc_a.id) is False
    assert await knowledge.get_document(pool, tenant_b, doc_a.id) is None


async def test_spelling_vocabulary_is_per_tenant(pool: asyncpg.Pool) -> None:
    tenant_a, tenant_b = await _tenant(pool), await _tenant(pool)
    await ingest_document(pool, tenant_a, "a.txt", b"Temos margherita e calabresa.")
    await ingest_document(pool, tenant_b, "b.txt", b"Temos sorvete.")
    assert await knowledge_search.search(pool, tenant_b, "margerita") == []
    assert (await knowledge_search.search(pool, tenant_a, "margerita"))[0].document == "a.txt"


_GYM = (
    "## Aula experimental\n\nA primeira aula experimental é gratuita, em qualquer modalidade.\n\n"
    "## Plano anual\n\nO plano anual custa R$ 99 por mês, com avaliação física inclusa.\n\n"
    "## Horário\n\nMusculação livre das 6h às 22h, de segunda a sábado.\n\n"
    "## Aulas coletivas\n\nSpinning, muay thai e funcional: uma aula por dia está no plano.\n\n"
    "## Personal\n\nPersonal trainer na academia: R$ 60 a aula, com hora marcada.\n"
).encode()


async def test_a_question_about_a_word_no_document_knows_is_not_answered(
    pool: asyncpg.Pool,
) -> None:
    tenant_id = await _tenant(pool)
    await ingest_document(pool, tenant_id, "academia.md", _GYM)
    # "aula" is in a passage, but the question is about yoga, which no document mentions
    assert await knowledge_search.search(pool, tenant_id, "tem aula de yoga?") == []
    found = await knowledge_search.search(pool, tenant_id, "tem aula experimental?")
    assert "gratuita" in found[0].text


async def test_many_unknown_words_in_a_long_message_do_not_hide_its_topic(
    pool: asyncpg.Pool,
) -> None:
    tenant_id = await _tenant(pool)
    await ingest_document(pool, tenant_id, "academia.md", _GYM)
    message = "oi! meu marido falou ontem que o plano anual sai mais barato, procede?"
    found = await knowledge_search.search(pool, tenant_id, message)
    assert "R$ 99" in found[0].text
    assert [p.score for p in found] == sorted((p.score for p in found), reverse=True)


async def test_an_unknown_aside_in_a_longer_question_does_not_silence_it(
    pool: asyncpg.Pool,
) -> None:
    tenant_id = await _tenant(pool)
    await ingest_document(pool, tenant_id, "academia.md", _GYM)
    # no document knows "dezembro": in a longer message it is more likely an aside to the one
    # word the base knows, in a short question it is the topic and the base does not answer it
    asked = {
        "meu marido vai viajar em dezembro, quer um trainer quando voltar": ["Personal trainer"],
        "academia em dezembro?": [],
    }
    for question, starts in asked.items():
        found = await knowledge_search.search(pool, tenant_id, question, 1)
        assert [p.text[: len(s)] for p, s in zip(found, starts, strict=False)] == starts
        assert len(found) == len(starts)
