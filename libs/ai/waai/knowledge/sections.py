"""Sections out of a document's text: plain text and a PDF's pages (short lines read as
headings), markdown, csv question/answer rows and a Word file's blocks; what chunking splits."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

_QA_HEADERS = {"pergunta", "perguntas", "question", "questao", "q", "p"}
_END_OF_SENTENCE = (".", "!", "?", ";", ":", ",")


@dataclass(frozen=True)
class Section:
    """Text under one heading; an atomic section (a Q/A row) is never merged with others."""

    heading: str
    text: str
    atomic: bool = False


def decode_text(data: bytes) -> str:
    """UTF-8 (with or without BOM), else Windows-1252 as Brazilian office files often are."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("cp1252", errors="replace")
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _is_heading(line: str) -> bool:
    """A short line without closing punctuation reads as a title."""
    line = line.strip()
    return (
        0 < len(line) <= 70
        and len(line.split()) <= 8
        and not line.endswith(_END_OF_SENTENCE)
        and any(ch.isalpha() for ch in line)
    )


def plain_sections(text: str) -> list[Section]:
    blocks = [b.strip() for b in re.split(r"\n\s*\n", text) if b.strip()]
    return _under_headings(("\n" not in b and _is_heading(b), b) for b in blocks)


def _under_headings(blocks: Iterable[tuple[bool, str]]) -> list[Section]:
    """(is a heading, text) blocks in order: one section per heading, its paragraphs joined."""
    sections: list[Section] = []
    heading = ""
    paragraphs: list[str] = []
    for is_heading, block in blocks:
        if is_heading:
            if paragraphs:
                sections.append(Section(heading, "\n\n".join(paragraphs)))
            heading, paragraphs = block, []
        else:
            paragraphs.append(block)
    if paragraphs:
        sections.append(Section(heading, "\n\n".join(paragraphs)))
    return sections


_MD_HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
_MD_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
_MD_EMPHASIS = re.compile(r"(\*\*|__|\*|`)")


def markdown_sections(text: str) -> list[Section]:
    """One section per heading; links keep their text, emphasis markers go."""
    sections: list[Section] = []
    heading = ""
    lines: list[str] = []
    for line in text.split("\n"):
        match = _MD_HEADING.match(line)
        if match:
            body = "\n".join(lines).strip()
            if body:
                sections.append(Section(heading, body))
            heading, lines = _md_inline(match.group(2)), []
        else:
            lines.append(_md_inline(line))
    body = "\n".join(lines).strip()
    if body:
        sections.append(Section(heading, body))
    return sections


def _md_inline(line: str) -> str:
    return _MD_EMPHASIS.sub("", _MD_LINK.sub(r"\1", line)).rstrip()


def pdf_text_sections(pages: list[str]) -> list[Section]:
    """The text of a PDF's pages, wrapped lines joined back into paragraphs."""
    blocks: list[str] = []
    current: list[str] = []
    for line in "\n".join(pages).split("\n"):
        line = line.strip()
        if not line:
            continue
        if not current and _is_heading(line):
            blocks.append(line)
            continue
        current.append(line)
        if line.endswith((".", "!", "?")):
            blocks.append(" ".join(current))
            current = []
    if current:
        blocks.append(" ".join(current))
    return plain_sections("\n\n".join(blocks))


def csv_sections(text: str) -> list[Section]:
    """Rows of question,answer become one atomic section each; a header row is skipped."""
    sections: list[Section] = []
    for i, row in enumerate(csv.reader(io.StringIO(text), delimiter=csv_delimiter(text))):
        cells = [c.strip() for c in row if c.strip()]
        if not cells or (i == 0 and cells[0].lower() in _QA_HEADERS):
            continue
        if len(cells) == 1:
            sections.append(Section("", cells[0], atomic=True))
        else:
            question, answer = cells[0], " ".join(cells[1:])
            sections.append(
                Section(question, f"Pergunta: {question}\nResposta: {answer}", atomic=True)
            )
    return sections


def csv_delimiter(text: str) -> str:
    """The delimiter that splits the rows into the most consistent number of cells (2 or more).

    The csv sniffer takes the commas inside the answers of a semicolon-separated file (what
    Excel saves in Portuguese) for delimiters; a delimiter that gives every row the same count
    is the one the file was written with. Ties go to ";" then tab, the rarer ones in prose.
    """
    best, best_score = ",", -1.0
    for delimiter in (";", "\t", ","):
        rows = [r for r in csv.reader(io.StringIO(text[:16384]), delimiter=delimiter) if r]
        counts = [len(r) for r in rows[:-1] or rows]  # the sample may cut the last row
        if not counts:
            continue
        modal = max(set(counts), key=counts.count)
        if modal < 2:
            continue
        score = counts.count(modal) / len(counts)
        if score > best_score:
            best, best_score = delimiter, score
    return best


def docx_sections(blocks: list[Any]) -> list[Section]:
    """A Word body's ["h"|"p", text] blocks: one section per heading paragraph."""
    return _under_headings(
        (b[0] == "h", b[1])
        for b in blocks
        if isinstance(b, list) and len(b) == 2 and isinstance(b[1], str)
    )
