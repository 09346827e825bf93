"""What the sandbox child runs for a Word file (see `waai.knowledge.extract`): python-docx and
the standard library only, as `pdf_child` (a fresh interpreter per parse stays light).

A .docx is a zip of XML parts: a decompression bomb or a billion-laughs part is stopped by
the child's memory and CPU caps, never in the service's own process.
"""

from __future__ import annotations

import io
from typing import Any

import docx
from docx.table import Table
from docx.text.paragraph import Paragraph

# paragraph styles that open a section, in English and Portuguese Word
_HEADING_STYLES = ("heading", "título", "titulo", "title")


def docx_blocks(data: bytes, max_chars: int) -> dict[str, Any]:
    """The body in order as ["h"|"p", text] blocks (tables as one "first cell: others" line
    per row), stopping at `max_chars` characters."""
    document = docx.Document(io.BytesIO(data))
    blocks: list[list[str]] = []
    total = 0
    truncated = False
    for item in document.iter_inner_content():
        if isinstance(item, Paragraph):
            text = item.text.strip()
            style = (item.style.name if item.style is not None else "") or ""
            kind = "h" if style.lower().startswith(_HEADING_STYLES) else "p"
            found = [[kind, text]] if text else []
        elif isinstance(item, Table):
            found = [["p", _row(row.cells)] for row in item.rows]
            found = [b for b in found if b[1]]
        for block in found:
            total += len(block[1])
            if total > max_chars:
                truncated = True
                break
            blocks.append(block)
        if truncated:
            break
    return {"blocks": blocks, "truncated": truncated}


def _row(cells: Any) -> str:
    texts: list[str] = []
    for cell in cells:
        text = " ".join(cell.text.split())
        if text and (not texts or texts[-1] != text):  # merged cells repeat their text
            texts.append(text)
    if len(texts) > 1:
        return f"{texts[0]}: {', '.join(texts[1:])}"
    return texts[0] if texts else ""
