"""The retrieval port the responders use, its PostgreSQL adapter and an in-memory fake."""

from __future__ import annotations

from typing import Protocol

import asyncpg

from wacommon.repositories import knowledge
from wacommon.repositories.knowledge import DEFAULT_MIN_SCORE, Passage

__all__ = ["FakeRetriever", "KnowledgeRetriever", "Passage", "PgRetriever"]


class KnowledgeRetriever(Protocol):
    """Finds the tenant's passages that answer a question, best first, relevant ones only."""

    async def search(self, client_id: str, query: str, k: int = 3) -> list[Passage]: ...


class PgRetriever:
    """Full-text search in PostgreSQL (Portuguese stems, accents folded, synonyms, misspellings)."""

    def __init__(self, pool: asyncpg.Pool, *, min_score: float = DEFAULT_MIN_SCORE) -> None:
        self._pool = pool
        self._min_score = min_score

    async def search(self, client_id: str, query: str, k: int = 3) -> list[Passage]:
        """The `k` best passages scoring at least `min_score`."""
        return await knowledge.search(self._pool, client_id, query, k, min_score=self._min_score)


class FakeRetriever:
    """Answers from a fixed list of passages per query (exact text), recording every query."""

    def __init__(self, answers: dict[str, list[Passage]] | None = None) -> None:
        self.answers = answers or {}
        self.queries: list[tuple[str, str]] = []

    async def search(self, client_id: str, query: str, k: int = 3) -> list[Passage]:
        """The passages registered for `query`, at most `k`."""
        self.queries.append((client_id, query))
        return self.answers.get(query, [])[:k]
