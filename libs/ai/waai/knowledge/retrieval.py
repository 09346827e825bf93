"""The retrieval port the responders use, its PostgreSQL adapter and an in-memory fake.

Lexical retrieval (BM25 over Portuguese stems, accents folded, misspellings and clipped words
matched against the tenant's vocabulary) always runs. When the tenant has an embedder, the
question's vector also ranks the chunks by cosine similarity and the two rankings are fused
by reciprocal rank (RRF); a failing embeddings API leaves the lexical ranking alone.
"""

from __future__ import annotations

from typing import Protocol

import asyncpg
import structlog

from waai.knowledge.embeddings import Embedder
from wacommon.repositories import knowledge_search
from wacommon.repositories import knowledge_vectors as vectors
from wacommon.repositories.knowledge import Db
from wacommon.repositories.knowledge_search import DEFAULT_MIN_SCORE, Passage

__all__ = ["FakeRetriever", "KnowledgeRetriever", "Passage", "PgRetriever", "hybrid_search"]

log = structlog.get_logger(__name__)

# RRF's damping constant (the usual 60) and how deep each ranking is read
RRF_K = 60
CANDIDATES = 20
# a passage only the dense ranking found is kept from this cosine similarity on
DENSE_MIN_SIMILARITY = 0.35


class KnowledgeRetriever(Protocol):
    """Finds the tenant's passages that answer a question, best first, relevant ones only."""

    async def search(
        self, tenant_id: str, query: str, k: int = 3, *, embedder: Embedder | None = None
    ) -> list[Passage]: ...


class PgRetriever:
    """Hybrid retrieval in PostgreSQL: lexical always, fused with dense vectors when embedded."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        *,
        min_score: float = DEFAULT_MIN_SCORE,
        embedder: Embedder | None = None,
    ) -> None:
        self._pool = pool
        self._min_score = min_score
        self._embedder = embedder

    @property
    def hybrid(self) -> bool:
        """Whether dense vectors are fused in (the tenant has an embeddings model)."""
        return self._embedder is not None

    def with_embedder(self, embedder: Embedder | None) -> PgRetriever:
        """The same retriever, fusing in `embedder`'s vectors (a tenant's, for one turn)."""
        return PgRetriever(self._pool, min_score=self._min_score, embedder=embedder)

    async def search(
        self, tenant_id: str, query: str, k: int = 3, *, embedder: Embedder | None = None
    ) -> list[Passage]:
        """The `k` best relevant passages (lexical score or dense similarity high enough)."""
        embedder = embedder or self._embedder
        if embedder is None:
            return await knowledge_search.search(
                self._pool, tenant_id, query, k, min_score=self._min_score
            )
        return await hybrid_search(
            self._pool, tenant_id, query, k, embedder, min_score=self._min_score
        )


async def hybrid_search(
    db: Db,
    tenant_id: str,
    query: str,
    k: int,
    embedder: Embedder,
    *,
    min_score: float = DEFAULT_MIN_SCORE,
    dense_min_similarity: float = DENSE_MIN_SIMILARITY,
) -> list[Passage]:
    """Lexical and dense rankings fused by reciprocal rank; lexical only if embedding fails."""
    lexical = await knowledge_search.search(db, tenant_id, query, CANDIDATES, min_score=0.0)
    try:
        [vector] = await embedder.embed([query], "query")
        dense = await vectors.nearest(db, tenant_id, embedder.model, vector, CANDIDATES)
    except Exception as exc:
        # the knowledge base still answers lexically; the provider's outage is logged, not fatal
        log.warning("query_embedding_failed", tenant_id=tenant_id, error=repr(exc)[:300])
        return knowledge_search.relevant(lexical, min_score)[:k]
    fused: dict[tuple[str, str], float] = {}
    passages: dict[tuple[str, str], Passage] = {}
    relevant: set[tuple[str, str]] = set()
    lexical_relevant = {(p.document, p.text) for p in knowledge_search.relevant(lexical, min_score)}
    for rank, p in enumerate(lexical):
        key = (p.document, p.text)
        fused[key] = fused.get(key, 0.0) + 1.0 / (RRF_K + rank + 1)
        passages[key] = p
        if key in lexical_relevant:
            relevant.add(key)
    for rank, n in enumerate(dense):
        key = (n.document, n.text)
        fused[key] = fused.get(key, 0.0) + 1.0 / (RRF_K + rank + 1)
        if key not in passages:
            passages[key] = Passage(n.document, n.text, round(max(0.0, n.similarity), 4), n.heading)
        if n.similarity >= dense_min_similarity:
            relevant.add(key)
    ranked = sorted(relevant, key=lambda key: -fused[key])
    return [passages[key] for key in ranked[:k]]


class FakeRetriever:
    """Answers from a fixed list of passages per query (exact text), recording every query."""

    def __init__(self, answers: dict[str, list[Passage]] | None = None) -> None:
        self.answers = answers or {}
        self.queries: list[tuple[str, str]] = []

    async def search(
        self, tenant_id: str, query: str, k: int = 3, *, embedder: Embedder | None = None
    ) -> list[Passage]:
        """The passages registered for `query`, at most `k`."""
        self.queries.append((tenant_id, query))
        return self.answers.get(query, [])[:k]
