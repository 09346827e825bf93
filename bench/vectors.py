"""Nearest-chunk search latency: the old real[] dot product against pgvector, per tenant size.

For each size N, a fresh temporary database (created and dropped here) gets one tenant with N
chunks and their vectors, plus `--others` chunks spread over 20 other tenants, all of one model
and length (`--dims`, 1536 like OpenAI's text-embedding-3-small). The vectors are clustered
(topics) rather than uniform, like real embeddings. Then the same `--queries` query vectors are
searched for the big tenant's 20 nearest chunks by:

- real[]: migration 0141's query (unnest and sum over the tenant's rows) over a copy of the
  vectors as real[], with 0141's (client_id, model) index;
- pgvector exact: `<=>` over the tenant's rows, no vector index (what a tenant whose length has
  no HNSW index gets);
- pgvector as shipped: `knowledge_vectors.nearest`, the planner choosing between that exact
  scan and migration 0250's HNSW index; its plan and its recall@20 against the exact ranking
  are printed too.

    PYTHONSAFEPATH=1 PYTHONPATH=. .venv/bin/python -m bench.vectors --sizes 500 5000 50000
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import random
import statistics
import time
from collections.abc import Awaitable, Callable, Sequence

import asyncpg

from bench.common import migrated_database
from wacommon.repositories import knowledge_vectors as vectors

MODEL = "bench:clustered"
TOPICS = 64
NEIGHBOURS = 20
OTHER_TENANTS = 20

REAL_ARRAY_NEAREST = """
SELECT c.id, (SELECT sum(a::float8 * b) FROM unnest(e.embedding, $3::real[]) AS t(a, b)) AS s
FROM bench_real_embeddings e
JOIN kb_chunks c ON c.id = e.chunk_id AND c.client_id = $1
JOIN kb_documents d ON d.id = c.document_id AND d.client_id = $1
WHERE e.client_id = $1 AND e.model = $2
ORDER BY s DESC NULLS LAST, c.id
LIMIT $4
"""


def exact_nearest(dims: int) -> str:
    """`nearest`'s query with the column left uncast: no index matches it, the scan is exact."""
    return vectors.NEAREST.format(dims=dims).replace(f"(embedding::vector({dims}))", "embedding")


def _base_url() -> str:
    url = os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/x")
    return url.rsplit("/", 1)[0]


def _unit(v: Sequence[float]) -> list[float]:
    norm = sum(x * x for x in v) ** 0.5 or 1.0
    return [x / norm for x in v]


class Topics:
    """Clustered unit vectors: a topic's centre plus noise."""

    def __init__(self, dims: int, rng: random.Random) -> None:
        self.rng = rng
        self.centres = [[rng.gauss(0, 1) for _ in range(dims)] for _ in range(TOPICS)]

    def vector(self, spread: float = 0.8) -> list[float]:
        centre = self.rng.choice(self.centres)
        return _unit([c + self.rng.gauss(0, spread) for c in centre])


async def _tenant(conn: asyncpg.Connection, name: str) -> tuple[str, str]:
    tenant_id = str(
        await conn.fetchval("INSERT INTO clients (name) VALUES ($1) RETURNING id", name)
    )
    document_id = await conn.fetchval(
        "INSERT INTO kb_documents (client_id, name, source_kind, content_hash)"
        " VALUES ($1, 'base.md', 'md', 'h') RETURNING id",
        tenant_id,
    )
    return tenant_id, str(document_id)


async def _load(
    conn: asyncpg.Connection, tenant_id: str, document_id: str, count: int, topics: Topics
) -> None:
    ids = await conn.fetch(
        "INSERT INTO kb_chunks (client_id, document_id, ordinal, heading, text)"
        " SELECT $1, $2, n, '', 'chunk ' || n FROM generate_series(1, $3) AS n RETURNING id",
        tenant_id,
        document_id,
        count,
    )
    for start in range(0, len(ids), 1000):
        batch = [(r["id"], topics.vector()) for r in ids[start : start + 1000]]
        await vectors.store_vectors(conn, tenant_id, MODEL, batch)


async def _exact(conn: asyncpg.Connection, sql: str, *args: object) -> list[asyncpg.Record]:
    """The exact search with the settings `nearest` runs under: only the index differs."""
    async with conn.transaction():
        await conn.execute(vectors.SEARCH_SETTINGS)
        return await conn.fetch(sql, *args)


async def _timed(call: Callable[[], Awaitable[object]], queries: int) -> tuple[float, float]:
    spent = []
    for _ in range(queries):
        began = time.perf_counter()
        await call()
        spent.append((time.perf_counter() - began) * 1000)
    spent.sort()
    return statistics.median(spent), spent[min(len(spent) - 1, int(len(spent) * 0.95))]


def _index_used(plan: asyncpg.Record) -> str:
    text = json.dumps(plan[0])
    for name in ("kb_embeddings_hnsw_1536", "kb_embeddings_hnsw_1024", "kb_embeddings_hnsw_768"):
        if name in text:
            return f"HNSW ({name})"
    return "exact (tenant's rows, then sort)"


async def one_size(base: str, size: int, args: argparse.Namespace) -> None:
    """Load a database for `size` chunks, time the three searches, print a line, drop it."""
    async with migrated_database("vec", base) as dsn:
        conn = await asyncpg.connect(dsn)
        try:
            await _measure(conn, size, args)
        finally:
            await conn.close()


async def _measure(conn: asyncpg.Connection, size: int, args: argparse.Namespace) -> None:
    rng = random.Random(size)
    topics = Topics(args.dims, rng)
    # the HNSW indexes are built once after loading (as CREATE INDEX on an existing table would
    # be), not row by row: the same definitions the migration made
    defs = [
        r["indexdef"]
        for r in await conn.fetch(
            "SELECT indexname, indexdef FROM pg_indexes WHERE indexname LIKE 'kb_embeddings_hnsw%'"
        )
    ]
    for r in await conn.fetch(
        "SELECT indexname FROM pg_indexes WHERE indexname LIKE 'kb_embeddings_hnsw%'"
    ):
        await conn.execute(f'DROP INDEX "{r["indexname"]}"')
    began = time.perf_counter()
    big, document_id = await _tenant(conn, "big")
    await _load(conn, big, document_id, size, topics)
    for n in range(OTHER_TENANTS):
        other, other_document = await _tenant(conn, f"other-{n}")
        await _load(conn, other, other_document, args.others // OTHER_TENANTS, topics)
    loaded_s = time.perf_counter() - began
    await conn.execute(
        "CREATE TABLE bench_real_embeddings AS"
        " SELECT chunk_id, client_id, model, embedding::real[] AS embedding FROM kb_embeddings"
    )
    await conn.execute(
        "CREATE INDEX ON bench_real_embeddings (client_id, model);"
        " ALTER TABLE bench_real_embeddings ADD PRIMARY KEY (chunk_id, model)"
    )
    await conn.execute(f"SET maintenance_work_mem = '{args.maintenance_work_mem}'")
    began = time.perf_counter()
    for indexdef in defs:
        await conn.execute(indexdef)
    index_s = time.perf_counter() - began
    for table in ("kb_embeddings", "bench_real_embeddings", "kb_chunks", "kb_documents"):
        await conn.execute(f"VACUUM ANALYZE {table}")

    queries = [topics.vector(spread=1.0) for _ in range(args.queries)]
    exact_sql = exact_nearest(args.dims)
    recall = []
    for q in queries:
        exact = [r["id"] for r in await _exact(conn, exact_sql, big, MODEL, q, NEIGHBOURS)]
        shipped = [n.chunk_id for n in await vectors.nearest(conn, big, MODEL, q, NEIGHBOURS)]
        recall.append(len(set(exact) & set(shipped)) / max(1, len(exact)))
    [plan] = await _exact(
        conn,
        "EXPLAIN (FORMAT JSON) " + vectors.NEAREST.format(dims=args.dims),
        big,
        MODEL,
        vectors.unit(queries[0]),
        NEIGHBOURS,
    )
    it = itertools.cycle(queries)
    real = await _timed(
        lambda: conn.fetch(REAL_ARRAY_NEAREST, big, MODEL, next(it), NEIGHBOURS), args.queries
    )
    it = itertools.cycle(queries)
    exact_t = await _timed(
        lambda: _exact(conn, exact_sql, big, MODEL, next(it), NEIGHBOURS), args.queries
    )
    it = itertools.cycle(queries)
    shipped_t = await _timed(
        lambda: vectors.nearest(conn, big, MODEL, next(it), NEIGHBOURS), args.queries
    )
    print(
        f"{size:>7} | {real[0]:8.2f} / {real[1]:8.2f} | {exact_t[0]:7.2f} / {exact_t[1]:7.2f}"
        f" | {shipped_t[0]:7.2f} / {shipped_t[1]:7.2f} | {statistics.mean(recall):.3f}"
        f" | {_index_used(plan)} | load {loaded_s:.0f} s, HNSW build {index_s:.1f} s",
        flush=True,
    )


async def run(args: argparse.Namespace) -> None:
    """Every size in turn, each in its own database."""
    print(
        f"{args.dims} dims, {args.others} chunks of {OTHER_TENANTS} other tenants,"
        f" {args.queries} queries, {NEIGHBOURS} nearest; milliseconds median / p95"
    )
    print(
        "  chunks | real[] (0141)       | pgvector exact    | pgvector shipped  | recall@20 | plan"
    )
    for size in args.sizes:
        await one_size(args.database_base, size, args)


def main() -> None:
    """Parse arguments and run."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--database-base", default=_base_url(), help="server URL, no database")
    parser.add_argument("--sizes", type=int, nargs="+", default=[500, 5000], metavar="N")
    parser.add_argument("--dims", type=int, default=1536)
    parser.add_argument("--others", type=int, default=2000, help="chunks of the other tenants")
    parser.add_argument("--queries", type=int, default=40)
    parser.add_argument("--maintenance-work-mem", default="1GB", help="for the HNSW build")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
