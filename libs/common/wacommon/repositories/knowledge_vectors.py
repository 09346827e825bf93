"""SQL about the knowledge base's dense vectors: which chunks lack one, storing, nearest chunks."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg

from wacommon.infra.dbtypes import Conn
from wacommon.repositories.knowledge import Db

_TINY = 1e-30


@dataclass(frozen=True)
class ChunkText:
    """A chunk to embed: its id and the text the vector is computed from."""

    id: int
    text: str


@dataclass(frozen=True)
class Neighbour:
    """A chunk near a query vector: cosine similarity in [-1, 1]."""

    chunk_id: int
    document: str
    heading: str
    text: str
    similarity: float


def unit(vector: Sequence[float]) -> list[float]:
    """The vector scaled to length 1 (a dot product of unit vectors is their cosine)."""
    norm = math.sqrt(sum(v * v for v in vector)) or 1.0
    # components below real's range would fail the insert ("underflow"); they weigh nothing
    return [x if abs(x) >= _TINY else 0.0 for x in (float(v) / norm for v in vector)]


def embedding_text(heading: str, text: str) -> str:
    """What a chunk's vector is computed from: its section heading then its text."""
    return f"{heading}\n{text}" if heading and heading not in text else text


async def chunks_without_vector(db: Db, tenant_id: str, model: str) -> list[ChunkText]:
    """The tenant's chunks that have no vector of `model` yet, in document order."""
    rows = await db.fetch(
        "SELECT c.id, c.heading, c.text FROM kb_chunks c WHERE c.client_id = $1 AND NOT EXISTS"
        " (SELECT 1 FROM kb_embeddings e WHERE e.chunk_id = c.id AND e.model = $2)"
        " ORDER BY c.document_id, c.ordinal",
        tenant_id,
        model,
    )
    return [ChunkText(r["id"], embedding_text(r["heading"], r["text"])) for r in rows]


async def store_vectors(
    db: Db, tenant_id: str, model: str, vectors: Sequence[tuple[int, Sequence[float]]]
) -> None:
    """Store (chunk id, vector) pairs of `model`; a chunk deleted meanwhile is skipped."""
    await db.executemany(
        "INSERT INTO kb_embeddings (chunk_id, client_id, model, embedding)"
        " SELECT c.id, c.client_id, $3, $4::real[]::vector FROM kb_chunks c"
        " WHERE c.id = $1 AND c.client_id = $2"
        " ON CONFLICT (chunk_id, model) DO UPDATE SET embedding = EXCLUDED.embedding",
        [(chunk_id, tenant_id, model, unit(v)) for chunk_id, v in vectors],
    )


def _number(similarity: float) -> float:
    """A stored vector of zeros has a NaN cosine: it is similar to nothing."""
    return 0.0 if math.isnan(similarity) else float(similarity)


# The inner query ranks the tenant's vectors of one model and length by pgvector's cosine
# distance; it casts to vector(N) and filters dims = N exactly as the partial HNSW indexes of
# migration 0250 are written, so the planner can pick one for a tenant with many chunks.
# Unit vectors: 1 - cosine distance is their dot product, the similarity 0141 stored.
NEAREST = """
SELECT c.id, d.name AS document, c.heading, c.text, 1 - e.distance AS similarity
FROM (
    SELECT chunk_id, (embedding::vector({dims})) <=> $3::real[]::vector({dims}) AS distance
    FROM kb_embeddings
    WHERE client_id = $1 AND model = $2 AND dims = {dims}
    ORDER BY distance
    LIMIT $4
) e
JOIN kb_chunks c ON c.id = e.chunk_id AND c.client_id = $1
JOIN kb_documents d ON d.id = c.document_id AND d.client_id = $1
ORDER BY e.distance, c.id
"""

# For this search only (SET LOCAL):
# - the HNSW index holds every tenant's vectors; by default it yields its ef_search (40) nearest
#   of all tenants and the tenant filter then drops the others' ones, which can leave fewer than
#   `limit` (or none). Iterative scan keeps walking the graph, in distance order, until the
#   tenant's `limit` nearest are found.
# - ef_search 100 instead of 40: at 50,000 chunks of one tenant recall@20 against the exact
#   ranking was 0.925 at 40 (bench/vectors.py; docs/retrieval.md has the figures at 100).
# - the statement is prepared once per connection; after five runs PostgreSQL may switch to a
#   generic plan costed for an average tenant (the exact scan), which a tenant with thousands
#   of chunks would then pay for. Each run is planned for its own tenant.
SEARCH_SETTINGS = (
    "SELECT set_config('hnsw.iterative_scan', 'strict_order', true),"
    " set_config('hnsw.ef_search', '100', true),"
    " set_config('plan_cache_mode', 'force_custom_plan', true)"
)


async def _search(conn: Conn, sql: str, *args: object) -> list[asyncpg.Record]:
    async with conn.transaction():
        await conn.execute(SEARCH_SETTINGS)
        return await conn.fetch(sql, *args)


async def nearest(
    db: Db, tenant_id: str, model: str, vector: Sequence[float], limit: int
) -> list[Neighbour]:
    """The tenant's `limit` chunks most similar to `vector` (vectors of `model` only)."""
    query = unit(vector)
    if not any(query):
        return []  # no direction: nothing is near it (pgvector's cosine of it is NaN)
    # the length is an int taken from the vector itself, never text from outside
    sql = NEAREST.format(dims=len(query))
    if isinstance(db, asyncpg.Pool):
        async with db.acquire() as conn:
            rows = await _search(conn, sql, tenant_id, model, query, limit)
    else:
        rows = await _search(db, sql, tenant_id, model, query, limit)
    return [
        Neighbour(r["id"], r["document"], r["heading"], r["text"], _number(r["similarity"]))
        for r in rows
    ]
