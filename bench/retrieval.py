"""Retrieval quality: recall@1/@3 of the default retrieval vs BM25 and a plain OR full-text query.

Loads a knowledge-base folder into a fresh temporary database (created and dropped here),
asks every question of a JSONL set ({"question", "document", "answer"}: the answer is a
distinctive substring of the passage that answers it) and counts a hit when a passage of the
expected document contains that substring. Unanswerable questions (JSONL of {"question"})
measure how often the default retrieval returns something when it should return nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import re
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg

from rag_worker.knowledge.ingest import ingest_document
from wacommon.migrations import apply_migrations, ensure_database
from wacommon.repositories import knowledge
from wacommon.repositories.clients import create_client
from wacommon.repositories.knowledge_text import unaccent

ROOT = Path(__file__).resolve().parent.parent
KB_DIR = ROOT / "tests" / "data" / "kb"
Ranked = list[tuple[str, str]]  # (document name, passage text), best first


def _base_url() -> str:
    url = os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/x")
    return url.rsplit("/", 1)[0]


class Bm25:
    """Okapi BM25 over lowercase word tokens (no stemming, no accent folding): the baseline."""

    def __init__(self, docs: list[str], k1: float = 1.2, b: float = 0.75) -> None:
        self.tokens = [self.tokenize(d) for d in docs]
        self.k1, self.b = k1, b
        self.avg = sum(len(t) for t in self.tokens) / max(1, len(self.tokens))
        df: Counter[str] = Counter(w for t in self.tokens for w in set(t))
        n = len(docs)
        self.idf = {w: math.log(1 + (n - f + 0.5) / (f + 0.5)) for w, f in df.items()}

    @staticmethod
    def tokenize(text: str) -> list[str]:
        return re.findall(r"\w+", text.lower())

    def rank(self, query: str) -> list[int]:
        scores = []
        for i, toks in enumerate(self.tokens):
            tf = Counter(toks)
            norm = self.k1 * (1 - self.b + self.b * len(toks) / self.avg)
            s = sum(
                self.idf[w] * tf[w] * (self.k1 + 1) / (tf[w] + norm)
                for w in set(self.tokenize(query))
                if w in tf
            )
            scores.append((s, i))
        return [i for s, i in sorted(scores, key=lambda x: (-x[0], x[1])) if s > 0]


_PLAIN_OR = """
SELECT d.name, c.text
FROM kb_chunks c JOIN kb_documents d ON d.id = c.document_id,
     to_tsquery('pt_unaccent', array_to_string(
         tsvector_to_array(to_tsvector('pt_unaccent', $2)), ' | ')) q
WHERE c.client_id = $1 AND c.tsv @@ q
ORDER BY ts_rank_cd(c.tsv, q) DESC, c.id LIMIT $3
"""


def _hit(ranked: Ranked, item: dict[str, Any], at: int) -> bool:
    return any(doc == item["document"] and item["answer"] in text for doc, text in ranked[:at])


async def run(args: argparse.Namespace) -> None:
    """Build the database, ingest, evaluate, print, drop."""
    db_name = f"wa_bench_{uuid.uuid4().hex[:8]}"
    dsn = f"{args.database_base}/{db_name}"
    await ensure_database(dsn)
    try:
        await apply_migrations(dsn)
        pool = await asyncpg.create_pool(dsn, min_size=1, max_size=4)
        assert pool is not None
        try:
            await evaluate(pool, args)
        finally:
            await pool.close()
    finally:
        conn = await asyncpg.connect(f"{args.database_base}/postgres")
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')
        finally:
            await conn.close()


async def evaluate(pool: asyncpg.Pool, args: argparse.Namespace) -> None:
    """Ingest the folder, then score every system on every question."""
    client = await create_client(pool, {"name": "bench"})
    client_id = str(client["id"])
    files = sorted(
        p for p in Path(args.kb).iterdir() if p.suffix in {".md", ".txt", ".csv", ".html", ".pdf"}
    )
    for path in files:
        await ingest_document(pool, client_id, path.name, path.read_bytes())
    rows = await pool.fetch(
        "SELECT d.name, c.heading, c.text FROM kb_chunks c JOIN kb_documents d"
        " ON d.id = c.document_id WHERE c.client_id = $1 ORDER BY c.id",
        client_id,
    )
    chunks = [(r["name"], r["text"]) for r in rows]
    bm25 = Bm25([f"{r['heading']}\n{r['text']}" for r in rows])
    questions = [
        json.loads(line) for line in Path(args.questions).read_text().splitlines() if line.strip()
    ]
    print(f"knowledge base: {len(files)} files, {len(chunks)} chunks; {len(questions)} questions")

    async def default(q: str) -> Ranked:
        found = await knowledge.search(pool, client_id, q, args.k, min_score=args.min_score)
        return [(p.document, p.text) for p in found]

    async def plain_or(q: str) -> Ranked:
        found = await pool.fetch(_PLAIN_OR, client_id, q, args.k)
        return [(r["name"], r["text"]) for r in found]

    async def baseline(q: str) -> Ranked:
        return [chunks[i] for i in bm25.rank(q)[: args.k]]

    async def bm25_unaccent(q: str) -> Ranked:
        return [chunks[i] for i in bm25_folded.rank(unaccent(q))[: args.k]]

    bm25_folded = Bm25([unaccent(f"{r['heading']}\n{r['text']}") for r in rows])
    systems: dict[str, Callable[[str], Awaitable[Ranked]]] = {
        "default (pt_unaccent + synonyms + spelling)": default,
        "BM25 (Python, word tokens)": baseline,
        "BM25 (Python, accents folded)": bm25_unaccent,
        "plain OR full-text (ts_rank_cd)": plain_or,
    }
    print(f"{'system':48} {'recall@1':>9} {'recall@3':>9} {'ms/query':>9}")
    for label, system in systems.items():
        r1 = r3 = 0
        started = time.perf_counter()
        for item in questions:
            ranked = await system(item["question"])
            r1 += _hit(ranked, item, 1)
            r3 += _hit(ranked, item, 3)
            if args.verbose and label.startswith("default") and not _hit(ranked, item, 1):
                tag = "miss@3" if not _hit(ranked, item, 3) else "miss@1"
                top = ranked[0][1][:70].replace("\n", " ") if ranked else "-"
                print(f"  {tag}: {item['question']!r} -> {top!r}")
        ms = (time.perf_counter() - started) * 1000 / len(questions)
        n = len(questions)
        print(f"{label:48} {r1 / n:9.3f} {r3 / n:9.3f} {ms:9.1f}")
    if args.unanswerable and Path(args.unanswerable).exists():
        negatives = [
            json.loads(line)["question"]
            for line in Path(args.unanswerable).read_text().splitlines()
            if line.strip()
        ]
        answered = 0
        for q in negatives:
            found = await knowledge.search(pool, client_id, q, 1, min_score=args.min_score)
            answered += bool(found)
            if args.verbose and found:
                print(f"  answered unanswerable {q!r} -> {found[0].score} {found[0].text[:60]!r}")
        print(
            f"default: {answered}/{len(negatives)} unanswerable questions got a passage "
            f"(min_score {args.min_score})"
        )


def main() -> None:
    """Parse arguments and run."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument(
        "--database-base",
        default=_base_url(),
        help="server URL without database (default: from DATABASE_URL)",
    )
    parser.add_argument("--kb", default=str(KB_DIR), help="knowledge-base folder")
    parser.add_argument("--questions", default=str(KB_DIR / "questions.jsonl"))
    parser.add_argument("--unanswerable", default=str(KB_DIR / "unanswerable.jsonl"))
    parser.add_argument("-k", type=int, default=3, help="passages retrieved per question")
    parser.add_argument("--min-score", type=float, default=knowledge.DEFAULT_MIN_SCORE)
    parser.add_argument("-v", "--verbose", action="store_true", help="print the misses")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
