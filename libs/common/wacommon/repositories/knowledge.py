"""All SQL about the knowledge base: documents, chunks, and ranked retrieval for one tenant."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import asyncpg

from wacommon.repositories.knowledge_text import QueryTerm, query_terms, vocabulary

SourceKind = Literal["txt", "md", "pdf", "csv", "html"]
Db = asyncpg.Connection | asyncpg.Pool

# Passages scoring below this share of the best possible score are not relevant.
DEFAULT_MIN_SCORE = 0.35
# A misspelt word is replaced by document words at least this similar (pg_trgm similarity).
MIN_SPELLING_SIMILARITY = 0.45
_HEADING_BOOST = 1.3

_DOC_COLUMNS = (
    "id::text AS id, client_id::text AS client_id, name, source_kind, content_hash,"
    " chunk_count, created_at, updated_at"
)


@dataclass(frozen=True)
class ChunkIn:
    """One chunk to store: the section heading it sits under and its text."""

    heading: str
    text: str


@dataclass(frozen=True)
class KbDocument:
    """A stored document (without its text)."""

    id: str
    client_id: str
    name: str
    source_kind: str
    content_hash: str
    chunk_count: int
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class Passage:
    """A retrieved chunk: source document name, text, relevance in [0, 1], section heading."""

    document: str
    text: str
    score: float
    heading: str = ""


@contextlib.asynccontextmanager
async def _transaction(db: Db) -> AsyncIterator[asyncpg.Connection]:
    if isinstance(db, asyncpg.Pool):
        async with db.acquire() as conn, conn.transaction():
            yield conn  # type: ignore[misc]
    else:
        async with db.transaction():
            yield db


async def upsert_document(
    db: Db,
    client_id: str,
    name: str,
    source_kind: SourceKind,
    content_hash: str,
    chunks: Sequence[ChunkIn],
) -> KbDocument:
    """Store a document with its chunks in one transaction; the same name replaces the old one."""
    async with _transaction(db) as conn:
        row = await conn.fetchrow(
            "INSERT INTO kb_documents (client_id, name, source_kind, content_hash, chunk_count)"
            " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (client_id, name) DO UPDATE SET"
            " source_kind = EXCLUDED.source_kind, content_hash = EXCLUDED.content_hash,"
            " chunk_count = EXCLUDED.chunk_count, updated_at = now()"
            f" RETURNING {_DOC_COLUMNS}",
            client_id,
            name,
            source_kind,
            content_hash,
            len(chunks),
        )
        assert row is not None
        doc = KbDocument(**dict(row))
        await conn.execute(
            "DELETE FROM kb_chunks WHERE client_id = $1 AND document_id = $2", client_id, doc.id
        )
        await conn.execute(
            "DELETE FROM kb_terms WHERE client_id = $1 AND document_id = $2", client_id, doc.id
        )
        await conn.executemany(
            "INSERT INTO kb_chunks (client_id, document_id, ordinal, heading, text)"
            " VALUES ($1, $2, $3, $4, $5)",
            [(client_id, doc.id, i, c.heading, c.text) for i, c in enumerate(chunks)],
        )
        terms: set[str] = set()
        for c in chunks:
            terms |= vocabulary(f"{c.heading} {c.text}")
        await conn.execute(
            "INSERT INTO kb_terms (client_id, document_id, term) SELECT $1, $2, unnest($3::text[])",
            client_id,
            doc.id,
            sorted(terms),
        )
    return doc


async def list_documents(db: Db, client_id: str) -> list[KbDocument]:
    """The tenant's documents, by name."""
    rows = await db.fetch(
        f"SELECT {_DOC_COLUMNS} FROM kb_documents WHERE client_id = $1 ORDER BY name", client_id
    )
    return [KbDocument(**dict(r)) for r in rows]


async def get_document(db: Db, client_id: str, document_id: str) -> KbDocument | None:
    """One of the tenant's documents, or None."""
    row = await db.fetchrow(
        f"SELECT {_DOC_COLUMNS} FROM kb_documents WHERE client_id = $1 AND id = $2",
        client_id,
        document_id,
    )
    return KbDocument(**dict(row)) if row else None


async def delete_document(db: Db, client_id: str, document_id: str) -> bool:
    """Delete a document and its chunks (gone from retrieval at once); False if not found."""
    status = await db.execute(
        "DELETE FROM kb_documents WHERE client_id = $1 AND id = $2", client_id, document_id
    )
    return str(status).endswith(" 1")


_ANALYSE = """
SELECT w.word, w.fix, l.lexemes,
       cardinality(l.lexemes) > 0 AND EXISTS (
           SELECT 1 FROM kb_chunks c WHERE c.client_id = $1
           AND c.tsv @@ array_to_string(ARRAY(SELECT quote_literal(x) FROM unnest(l.lexemes) x),
                                        ' | ')::tsquery) AS known,
       CASE WHEN w.fix THEN ARRAY(
           SELECT array_to_string(tsvector_to_array(to_tsvector('pt_unaccent', n.term)), ' ')
                  || '|' || n.sim::text
           FROM (SELECT t.term, similarity(t.term, w.word) AS sim FROM kb_terms t
                 WHERE t.client_id = $1 AND t.term % w.word
                 GROUP BY t.term ORDER BY 2 DESC LIMIT 2) n
           WHERE n.sim >= $4)
       ELSE '{}'::text[] END AS near
FROM unnest($2::text[], $3::bool[]) AS w(word, fix)
CROSS JOIN LATERAL (
    SELECT tsvector_to_array(to_tsvector('pt_unaccent', w.word)) AS lexemes
) l
"""

# BM25-like without term frequency: each query word (or its best synonym/correction) found in
# a chunk adds its weight times its rarity among the tenant's chunks; a heading match counts more.
# The score is that sum over the best achievable one: per word, the rarest of its forms the
# documents contain at full weight, or, when none does, an unseen word's rarity (an off-topic
# word in the question lowers every passage's score).
_SEARCH = """
WITH q AS (
    SELECT t.lex, t.grp, max(t.w) AS w,
           quote_literal(t.lex)::tsquery AS tq, (quote_literal(t.lex) || ':A')::tsquery AS tqa
    FROM unnest($2::text[], $3::int[], $4::float8[]) AS t(lex, grp, w)
    GROUP BY t.lex, t.grp
), n AS (
    SELECT count(*)::float8 AS n FROM kb_chunks WHERE client_id = $1
), qi AS (
    SELECT q.*, d.df, ln(1 + (n.n - d.df + 0.5) / (d.df + 0.5)) AS idf
    FROM q CROSS JOIN n CROSS JOIN LATERAL (
        SELECT count(*)::float8 AS df FROM kb_chunks c WHERE c.client_id = $1 AND c.tsv @@ q.tq
    ) d
), best AS (
    SELECT sum(m) AS total
    FROM (SELECT coalesce(max(idf) FILTER (WHERE df > 0), max(idf)) AS m FROM qi GROUP BY grp) g
), hits AS (
    SELECT c.id, qi.grp,
           max(qi.w * qi.idf * CASE WHEN c.tsv @@ qi.tqa THEN $6::float8 ELSE 1 END) AS s
    FROM kb_chunks c JOIN qi ON c.tsv @@ qi.tq
    WHERE c.client_id = $1
    GROUP BY c.id, qi.grp
), scored AS (
    SELECT h.id, sum(h.s) AS raw FROM hits h GROUP BY h.id
)
SELECT d.name AS document, c.heading, c.text, least(1.0, s.raw / b.total) AS score
FROM scored s
JOIN kb_chunks c ON c.id = s.id AND c.client_id = $1
JOIN kb_documents d ON d.id = c.document_id AND d.client_id = $1
CROSS JOIN best b
WHERE b.total > 0 AND s.raw / b.total >= $5
ORDER BY s.raw DESC, c.id
LIMIT $7
"""


async def _search_terms(db: Db, client_id: str, terms: list[QueryTerm]) -> list[QueryTerm]:
    """Stem the words; a customer word no document has also looks for close document words."""
    rows = await db.fetch(
        _ANALYSE,
        client_id,
        [t.word for t in terms],
        [t.weight == 1.0 for t in terms],
        MIN_SPELLING_SIMILARITY,
    )
    out: list[QueryTerm] = []
    for term, row in zip(terms, rows, strict=True):
        out.extend(QueryTerm(lex, term.weight, term.group) for lex in row["lexemes"])
        if row["fix"] and not row["known"]:
            for item in row["near"]:
                lexemes, _, sim = item.rpartition("|")
                out.extend(QueryTerm(lex, float(sim), term.group) for lex in lexemes.split())
    return out


async def search(
    db: Db, client_id: str, query: str, k: int = 3, *, min_score: float = DEFAULT_MIN_SCORE
) -> list[Passage]:
    """The tenant's `k` passages most relevant to a customer's question, best first."""
    terms = query_terms(query)
    if not terms:
        return []
    lexical = await _search_terms(db, client_id, terms)
    if not lexical:
        return []
    rows = await db.fetch(
        _SEARCH,
        client_id,
        [t.word for t in lexical],
        [t.group for t in lexical],
        [t.weight for t in lexical],
        min_score,
        _HEADING_BOOST,
        k,
    )
    return [
        Passage(
            document=r["document"],
            text=r["text"],
            score=round(float(r["score"]), 4),
            heading=r["heading"],
        )
        for r in rows
    ]
