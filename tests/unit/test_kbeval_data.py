"""Integrity of the retrieval evaluation data in tests/data/kbeval (not retrieval quality).

Failure messages name files and line numbers, never held-out question text: whoever tunes
retrieval runs this test too and must not read the held-out half.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from waai.knowledge.ingest import prepare_chunks

KBEVAL = Path(__file__).resolve().parent.parent / "data" / "kbeval"
BASES = sorted(p for p in KBEVAL.iterdir() if p.is_dir())
DOCUMENT_SUFFIXES = {".md", ".txt", ".csv", ".html", ".pdf"}
ANSWERABLE = {"question", "document", "answer"}


def _lines(path: Path) -> list[tuple[str, dict[str, Any]]]:
    """(file:line, object) for each non-blank line of a JSON-lines file."""
    out = []
    for number, line in enumerate(path.read_text("utf-8").splitlines(), start=1):
        if line.strip():
            where = f"{path.relative_to(KBEVAL)}:{number}"
            obj = json.loads(line)
            assert isinstance(obj, dict), f"{where}: not a JSON object"
            out.append((where, obj))
    return out


def _questions(base: Path) -> dict[str, list[tuple[str, dict[str, Any]]]]:
    return {
        "tune": _lines(base / "questions_tune.jsonl"),
        "holdout": _lines(base / "holdout" / "questions_holdout.jsonl"),
    }


def _unanswerable(base: Path) -> dict[str, list[tuple[str, dict[str, Any]]]]:
    return {
        "tune": _lines(base / "unanswerable_tune.jsonl"),
        "holdout": _lines(base / "holdout" / "unanswerable_holdout.jsonl"),
    }


def _passages(base: Path) -> list[tuple[str, str]]:
    """(document, passage text) exactly as ingestion chunks the base's documents."""
    passages = []
    for path in sorted(base.iterdir()):
        if path.suffix in DOCUMENT_SUFFIXES:
            _, _, chunks = asyncio.run(prepare_chunks(path.name, path.read_bytes()))
            passages += [(path.name, chunk.text) for chunk in chunks]
    return passages


def _key(question: str) -> str:
    return " ".join(question.lower().split())


def test_there_are_at_least_five_bases_with_a_readme() -> None:
    assert len(BASES) >= 5
    assert (KBEVAL / "README.md").is_file()


@pytest.mark.parametrize("base", BASES, ids=lambda p: p.name)
def test_a_base_has_mixed_formats_and_at_least_20_passages(base: Path) -> None:
    kinds = {p.suffix for p in base.iterdir() if p.suffix in DOCUMENT_SUFFIXES}
    assert len(kinds) >= 3, f"{base.name}: only {sorted(kinds)}"
    assert len(_passages(base)) >= 20


@pytest.mark.parametrize("base", BASES, ids=lambda p: p.name)
def test_questions_are_well_formed_and_at_least_40(base: Path) -> None:
    halves = _questions(base)
    documents = {p.name for p in base.iterdir() if p.suffix in DOCUMENT_SUFFIXES}
    for items in halves.values():
        assert items
        for where, item in items:
            assert set(item) == ANSWERABLE, f"{where}: keys {sorted(item)}"
            assert all(isinstance(v, str) and v.strip() for v in item.values()), where
            assert item["document"] in documents, f"{where}: no document {item['document']}"
    assert sum(len(items) for items in halves.values()) >= 40
    assert abs(len(halves["tune"]) - len(halves["holdout"])) <= 1


@pytest.mark.parametrize("base", BASES, ids=lambda p: p.name)
def test_every_answer_is_in_exactly_one_passage_of_its_document(base: Path) -> None:
    passages = _passages(base)
    for items in _questions(base).values():
        for where, item in items:
            holders = [doc for doc, text in passages if item["answer"] in text]
            assert holders == [item["document"]], f"{where}: answer found in {holders}"


@pytest.mark.parametrize("base", BASES, ids=lambda p: p.name)
def test_halves_are_disjoint_and_questions_unique(base: Path) -> None:
    seen: dict[str, str] = {}
    for kind in (_questions(base), _unanswerable(base)):
        for items in kind.values():
            for where, item in items:
                key = _key(item["question"])
                if key in seen:  # not `assert key not in seen`: that would print the text
                    pytest.fail(f"{where}: same question as {seen[key]}")
                seen[key] = where


@pytest.mark.parametrize("base", BASES, ids=lambda p: p.name)
def test_unanswerable_questions_are_well_formed(base: Path) -> None:
    for items in _unanswerable(base).values():
        assert items
        for where, item in items:
            assert set(item) == {"question"}, f"{where}: keys {sorted(item)}"
            assert isinstance(item["question"], str) and item["question"].strip(), where
