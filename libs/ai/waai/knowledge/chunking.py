"""Sections into chunks: whole paragraphs packed up to a size cap, long ones split with overlap."""

from __future__ import annotations

import re
from collections.abc import Iterable

from waai.knowledge.sections import Section
from wacommon.repositories.knowledge import ChunkIn

MAX_CHARS = 700
OVERLAP_CHARS = 120
_SENTENCE_END = re.compile(r"(?<=[.!?;])\s+")


def chunk_sections(
    sections: Iterable[Section], *, max_chars: int = MAX_CHARS, overlap_chars: int = OVERLAP_CHARS
) -> list[ChunkIn]:
    """Chunks that stay within one section, each at most about `max_chars` long."""
    chunks: list[ChunkIn] = []
    for section in sections:
        paragraphs = [p.strip() for p in re.split(r"\n\s*\n", section.text) if p.strip()]
        if section.atomic:
            paragraphs = ["\n".join(paragraphs)]
        for text in _pack(paragraphs, max_chars, overlap_chars):
            chunks.append(ChunkIn(heading=section.heading, text=text))
    return chunks


def _pack(paragraphs: list[str], max_chars: int, overlap_chars: int) -> list[str]:
    out: list[str] = []
    current = ""
    for paragraph in paragraphs:
        if len(paragraph) > max_chars:
            if current:
                out.append(current)
                current = ""
            out.extend(split_long(paragraph, max_chars, overlap_chars))
        elif not current:
            current = paragraph
        elif len(current) + 2 + len(paragraph) <= max_chars:
            current = f"{current}\n\n{paragraph}"
        else:
            out.append(current)
            current = paragraph
    if current:
        out.append(current)
    return out


def split_long(text: str, max_chars: int, overlap_chars: int) -> list[str]:
    """Split at sentence ends (words as a last resort); each piece repeats the previous tail."""
    units = _SENTENCE_END.split(text)
    units = [piece for unit in units for piece in _hard_split(unit, max_chars)]
    pieces: list[str] = []
    current: list[str] = []
    for unit in units:
        if current and len(" ".join([*current, unit])) > max_chars:
            pieces.append(" ".join(current))
            current = _tail(current, overlap_chars, max_chars - len(unit) - 1)
        current.append(unit)
    if current:
        pieces.append(" ".join(current))
    return pieces


def _tail(units: list[str], overlap_chars: int, room: int) -> list[str]:
    """The last sentences of a piece, up to `overlap_chars`, carried into the next one."""
    tail: list[str] = []
    size = 0
    for unit in reversed(units):
        size += len(unit) + 1
        if size > min(overlap_chars, room):
            break
        tail.insert(0, unit)
    return tail


def _hard_split(unit: str, max_chars: int) -> list[str]:
    if len(unit) <= max_chars:
        return [unit]
    words, out, current = unit.split(), [], ""
    for word in words:
        if current and len(current) + 1 + len(word) > max_chars:
            out.append(current)
            current = word
        else:
            current = f"{current} {word}".strip()
    if current:
        out.append(current)
    return out
