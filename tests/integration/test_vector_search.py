"""Nearest chunks through pgvector: cosine ranking, the HNSW index for a large tenant, and tenant
scoping through that shared index (migration 0250 itself: test_migrations.py)."""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Sequence

import asyncpg
import pytest

from wacommon.repositories import knowledge_vectors as vectors
from wacommon.repositories.clients import create_client

MODEL = "test:pgvector"
DIMS = 768


def _cosine(a: Sequence[float], b: Sequence[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    return dot / ((sum(x * x for x in a) ** 0.5) * (sum(y * y for y in b) ** 0.5))


def _near(rng: random.Random, centre: Sequence[float], spread: float) -> list[float]:
    return [c + rng.gauss(0, spread) for c in centre]


async def _tenant_with_vectors(
    pool: asyncpg.Pool, embeddings: Sequence[Sequence[float]]
) -> tuple[str, dict[int, Sequence[float]]]:
    """A tenant holding one document whose chunks have these vectors: (client id, id -> vector)."""
    tenant_id = str((await create_client(pool, {"name": f"vec-{uuid.uuid4().hex[:6]}"}))["id"])
    document_id = await pool.fetchval(
        "INSERT INTO kb_documents (client_id, name, source_kind, content_hash)"
        " VALUES ($1, 'base.md', 'md', 'h') RETURNING id",
        tenant_id,
    )
    ids = [
        r["id"]
        for r in await pool.fetch(
            "INSERT INTO kb_chunks (client_id, document_id, ordinal, heading, text)"
            " SELECT $1, $2, n, '', 'chunk ' || n FROM generate_series(1, $3) AS n RETURNING id",
            tenant_id,
            document_id,
            len(embeddings),
        )
    ]
    await vectors.store_vectors(pool, tenant_id, MODEL, list(zip(ids, embeddings, strict=True)))
    return tenant_id, dict(zip(ids, embeddings, strict=True))


def _exact(stored: dict[int, Sequence[float]], query: Sequence[float], k: int) -> list[int]:
    return sorted(stored, key=lambda i: (-_cosine(stored[i], query), i))[:k]


async def _plan(pool: asyncpg.Pool, tenant_id: str, query: Sequence[float]) -> str:
    """The JSON plan of the search as `nearest` runs it (its settings in the same transaction)."""
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(vectors.SEARCH_SETTINGS)
        await conn.execute("ANALYZE kb_embeddings")
        plan = await conn.fetchval(
            "EXPLAIN (FORMAT JSON) " + vectors.NEAREST.format(dims=len(query)),
            tenant_id,
            MODEL,
            vectors.unit(query),
            20,
        )
    return json.dumps(plan)


async def test_a_small_tenant_is_ranked_exactly_by_cosine(pool: asyncpg.Pool) -> None:
    rng = random.Random(7)
    centre = [rng.gauss(0, 1) for _ in range(DIMS)]
    tenant_id, stored = await _tenant_with_vectors(
        pool, [_near(rng, centre, 1.0) for _ in range(40)]
    )
    query = _near(rng, centre, 1.0)

    found = await vectors.nearest(pool, tenant_id, MODEL, query, 10)

    assert [n.chunk_id for n in found] == _exact(stored, query, 10)
    for n in found:
        assert n.similarity == pytest.approx(_cosine(stored[n.chunk_id], query), abs=1e-5)
    assert "kb_embeddings_hnsw" not in await _plan(pool, tenant_id, query)


async def test_a_large_tenant_goes_through_the_index_and_never_gets_another_tenants_chunks(
    pool: asyncpg.Pool,
) -> None:
    rng = random.Random(11)
    topics = [[rng.gauss(0, 1) for _ in range(DIMS)] for _ in range(16)]
    big, big_stored = await _tenant_with_vectors(
        pool, [_near(rng, rng.choice(topics), 0.8) for _ in range(2000)]
    )
    query = _near(rng, topics[0], 0.8)
    # another tenant's 60 chunks are all nearer to the query than any of the big tenant's: the
    # index's first candidates are all theirs, and must be skipped, not returned nor lose the
    # big tenant's own results
    other, other_stored = await _tenant_with_vectors(
        pool, [_near(rng, query, 0.01) for _ in range(60)]
    )

    assert "kb_embeddings_hnsw_768" in await _plan(pool, big, query)
    found = await vectors.nearest(pool, big, MODEL, query, 20)

    assert len(found) == 20
    assert {n.chunk_id for n in found} <= set(big_stored)
    exact = _exact(big_stored, query, 20)
    # HNSW is approximate: most of the exact 20 are found, the nearest first
    assert len({n.chunk_id for n in found} & set(exact)) >= 18
    assert found[0].chunk_id == exact[0]
    assert [n.similarity for n in found] == sorted((n.similarity for n in found), reverse=True)

    theirs = await vectors.nearest(pool, other, MODEL, query, 20)
    assert len(theirs) == 20
    assert {n.chunk_id for n in theirs} <= set(other_stored)
