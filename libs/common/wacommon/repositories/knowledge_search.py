"""Ranked retrieval over a tenant's knowledge base: the question's words weighed by their
rarity in the tenant's documents (misspellings corrected, prices recognised), the passages
scored by the share of those words they hold, and the bar a passage must clear."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from wacommon.repositories.knowledge import Db
from wacommon.repositories.knowledge_text import QueryTerm, asks_price, query_terms

# A question is answered only when its best passage holds at least this share of the question's
# words (each at its rarity); below it the knowledge base is taken not to answer it at all.
DEFAULT_MIN_SCORE = 0.45
# Once the best passage clears the bar, the next ones are kept from this share on: a question
# the base answers often needs two passages, the second matching fewer of its words.
SECONDARY_MIN_SCORE = 0.15
# A misspelt word is replaced by document words at least this similar (pg_trgm similarity).
MIN_SPELLING_SIMILARITY = 0.45
_HEADING_BOOST = 1.5
# A query word no document contains (nor any close spelling) counts as much as the rarest word
# in the best possible score: it is usually what the question is about ("tem aula de yoga?").
# Only one such word counts: a long message has many words no document uses ("meu marido",
# "ontem", "por causa do calor") and would otherwise never reach the bar.
UNSEEN_WORD_WEIGHT = 1.0
UNSEEN_WORDS_COUNTED = 1
# ... and it counts fully only in a short question: in a longer message an unknown word is more
# often an aside than the topic ("vou de bike, ...", "no aniversario", "pro meu marido"), so it
# counts FULL_UNSEEN_UP_TO / (the question's topic words) of itself there.
FULL_UNSEEN_UP_TO = 3
# The best possible score is that of the question's most informative words only (the rarest in
# the tenant's documents, an unknown one first): a passage that holds them answers it, however
# many other words a long message has ("fechei o anual mas vou mudar de cidade, tem multa?").
INFORMATIVE_WORDS = 2


@dataclass(frozen=True)
class Passage:
    """A retrieved chunk: source document name, text, relevance in [0, 1], section heading."""

    document: str
    text: str
    score: float
    heading: str = ""


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
       ELSE '{}'::text[] END AS near,
       -- a clipped word ("muscu", "academ") stands for the document words it starts
       CASE WHEN w.fix AND length(w.word) >= $5 THEN ARRAY(
           SELECT DISTINCT array_to_string(tsvector_to_array(to_tsvector('pt_unaccent', t.term)),
                                           ' ')
           FROM kb_terms t
           WHERE t.client_id = $1 AND t.term LIKE w.word || '%' AND t.term <> w.word
           LIMIT 3)
       ELSE '{}'::text[] END AS longer
FROM unnest($2::text[], $3::bool[]) AS w(word, fix)
CROSS JOIN LATERAL (
    SELECT tsvector_to_array(to_tsvector('pt_unaccent', w.word)) AS lexemes
) l
"""

# Every chunk holding one of the query's stems, with how often each stem occurs in its heading
# and in its body: BM25 is computed from these in Python (a tenant's chunks are few).
_CANDIDATES = """
SELECT c.id, d.name AS document, c.heading, c.text, length(c.tsv) AS len,
       c.text ~ $5 AS priced,
       ARRAY(SELECT u.lexeme || ' ' || array_to_string(u.weights, '')
             FROM unnest(c.tsv) u WHERE u.lexeme = ANY($2::text[])) AS found
FROM kb_chunks c
JOIN kb_documents d ON d.id = c.document_id AND d.client_id = $1
WHERE c.client_id = $1 AND (c.tsv @@ $3::tsquery OR ($4 AND c.text ~ $5))
"""
_STATS = """
SELECT count(*) AS n, coalesce(avg(length(tsv)), 1) AS avglen,
       count(*) FILTER (WHERE text ~ $2) AS priced
FROM kb_chunks WHERE client_id = $1
"""
# A price in a passage ("R$ 50", "R$50,00").
_PRICE_PATTERN = r"R\$ ?[0-9]"
# How much a quoted price counts for a question about a price, as a share of a word's weight.
PRICE_WEIGHT = 1.0
# A clipped word is expanded to document words that start with it only from this length on.
MIN_PREFIX_CHARS = 4
_K1 = 1.2
_B = 0.3


async def _search_terms(db: Db, tenant_id: str, terms: list[QueryTerm]) -> list[QueryTerm]:
    """Stem the words; a customer word no document has also looks for close document words."""
    rows = await db.fetch(
        _ANALYSE,
        tenant_id,
        [t.word for t in terms],
        [t.weight == 1.0 for t in terms],
        MIN_SPELLING_SIMILARITY,
        MIN_PREFIX_CHARS,
    )
    out: list[QueryTerm] = []
    for term, row in zip(terms, rows, strict=True):
        out.extend(QueryTerm(lex, term.weight, term.group) for lex in row["lexemes"])
        if row["fix"] and not row["known"]:
            for item in row["near"]:
                lexemes, _, sim = item.rpartition("|")
                out.extend(QueryTerm(lex, float(sim), term.group) for lex in lexemes.split())
            # a word with a close spelling is a typo of it, not a clipped word
            for lexemes in [] if row["near"] else row["longer"]:
                out.extend(QueryTerm(lex, 0.8, term.group) for lex in lexemes.split())
    return out


def _idf(n: float, df: float) -> float:
    return math.log(1 + (n - df + 0.5) / (df + 0.5))


async def search(
    db: Db, tenant_id: str, query: str, k: int = 3, *, min_score: float = DEFAULT_MIN_SCORE
) -> list[Passage]:
    """The tenant's `k` passages most relevant to a customer's question, best first.

    BM25 over Portuguese stems with accents folded: each query word (or the best of its
    synonyms, spelling corrections and completions, at their lower weights) adds its rarity times
    its saturated frequency in the chunk, heading occurrences counting more; that ranks. A
    passage's score is the share of the question it covers: the words it holds (at their
    rarity, not their frequency) over the best achievable sum, in which a word no document
    knows also counts, so that a question about something the documents never mention scores
    low everywhere. See `relevant` for which passages are returned.
    """
    terms = query_terms(query)
    if not terms:
        return []
    lexical = await _search_terms(db, tenant_id, terms)
    if not lexical:
        return []
    lexemes = sorted({t.word for t in lexical})
    tsquery = " | ".join(_quote_lexeme(x) for x in lexemes)
    price = asks_price(query)
    rows = await db.fetch(_CANDIDATES, tenant_id, lexemes, tsquery, price, _PRICE_PATTERN)
    stats = await db.fetchrow(_STATS, tenant_id, _PRICE_PATTERN)
    assert stats is not None
    n, avglen = float(stats["n"]), float(stats["avglen"]) or 1.0
    found = [_occurrences(r["found"]) for r in rows]
    df: dict[str, int] = {}
    for occ in found:
        for lex in occ:
            df[lex] = df.get(lex, 0) + 1
    groups: dict[int, list[QueryTerm]] = {}
    for t in lexical:
        groups.setdefault(t.group, []).append(t)
    parts: list[float] = []
    unseen = 0
    for forms in groups.values():
        seen = [t.weight * _idf(n, df[t.word]) for t in forms if t.word in df]
        if seen:
            parts.append(max(seen))
        else:
            unseen += 1
    parts += [_idf(n, 0) * unseen_word_weight(len(groups))] * min(unseen, UNSEEN_WORDS_COUNTED)
    best_total = sum(sorted(parts, reverse=True)[:INFORMATIVE_WORDS])
    price_idf = _idf(n, float(stats["priced"])) * PRICE_WEIGHT if price else 0.0
    if best_total <= 0:
        return []
    scored: list[tuple[float, int, Passage]] = []
    for row, occ in zip(rows, found, strict=True):
        norm = _K1 * (1 - _B + _B * float(row["len"]) / avglen)
        raw = covered = 0.0
        for forms in groups.values():
            best = cover = 0.0
            for t in forms:
                head, body = occ.get(t.word, (0, 0))
                if not head and not body:
                    continue
                tf = body + _HEADING_BOOST * head
                weight = t.weight * _idf(n, df[t.word])
                best = max(best, weight * tf * (_K1 + 1) / (tf + norm))
                cover = max(cover, weight * (_HEADING_BOOST if head else 1.0))
            raw += best
            covered += cover
        if row["priced"]:
            raw += price_idf
        # BM25 ranks; the share of the question's words the passage holds (each at its rarity,
        # not its frequency) is its relevance: repeating one word does not cover a question
        score = min(1.0, covered / best_total)
        passage = Passage(
            document=row["document"],
            text=row["text"],
            score=round(score, 4),
            heading=row["heading"],
        )
        scored.append((raw, row["id"], passage))
    scored.sort(key=lambda x: (-x[0], x[1]))
    # best first means the score too: a passage ranked lower never reports more relevance
    ranked: list[Passage] = []
    for _, _, p in scored:
        if ranked and p.score > ranked[-1].score:
            p = replace(p, score=ranked[-1].score)
        ranked.append(p)
    return relevant(ranked, min_score)[:k]


def unseen_word_weight(topic_words: int) -> float:
    """How much a word no document knows counts in a question of `topic_words` topic words
    (each customer word with its synonyms and corrections is one), as a share of the rarest."""
    return UNSEEN_WORD_WEIGHT * min(1.0, FULL_UNSEEN_UP_TO / max(1, topic_words))


def relevant(passages: list[Passage], min_score: float) -> list[Passage]:
    """The passages worth answering with, from a ranking (best first, scores not increasing):
    none unless the best reaches `min_score`, then those from SECONDARY_MIN_SCORE on (or
    `min_score`, if lower)."""
    if not passages or passages[0].score < min_score:
        return []
    floor = min(min_score, SECONDARY_MIN_SCORE)
    return [p for p in passages if p.score >= floor]


def _quote_lexeme(lexeme: str) -> str:
    return "'" + lexeme.replace("'", "''").replace("\\", "\\\\") + "'"


def _occurrences(found: list[str]) -> dict[str, tuple[int, int]]:
    """{stem: (times in the heading, times in the body)} from "stem WEIGHTS" strings."""
    out: dict[str, tuple[int, int]] = {}
    for item in found:
        lex, _, weights = item.rpartition(" ")
        heads = weights.count("A")
        out[lex] = (heads, len(weights) - heads)
    return out
